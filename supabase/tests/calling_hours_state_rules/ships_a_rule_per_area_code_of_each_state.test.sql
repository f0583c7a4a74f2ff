-- The state rules ship as data: us_area_code_states (generated from libphonenumber's geocoding
-- data) names the state of each US area code, and calling_hours_rules holds, enabled, one rule per
-- area code of each state whose statute restricts calling hours, with its citation.
begin;
\ir ../_helpers.psql
select plan(10);

select results_eq(
  $$select prefix, state from us_area_code_states
     where prefix in ('+1202', '+1212', '+1305', '+1405', '+1410', '+1713', '+1206') order by prefix$$,
  $$values ('+1202', 'DC'), ('+1206', 'WA'), ('+1212', 'NY'), ('+1305', 'FL'), ('+1405', 'OK'),
           ('+1410', 'MD'), ('+1713', 'TX')$$,
  'known area codes: Washington DC, Seattle, New York, Miami, Oklahoma City, Baltimore, Houston'
);
select is((select count(*)::integer from us_area_code_states where prefix in ('+1416', '+1514', '+1604', '+1876')), 0,
          'area codes of Canada and the Caribbean are not listed');
select is((select count(*)::integer from us_area_code_states where prefix = '+1201'), 0,
          'an area code whose entries name two states (+1201: New Jersey, one prefix New York) is left out');
select cmp_ok((select count(*)::integer from us_area_code_states), '>', 300, 'more than 300 US area codes');

select results_eq(
  $$select r.state, count(*)::integer from calling_hours_rules r where r.state is not null group by r.state order by r.state$$,
  $$select a.state, count(*)::integer from us_area_code_states a
     where a.state in ('FL', 'MD', 'MS', 'OK', 'TX', 'WA') group by a.state order by a.state$$,
  'one rule per area code of each state shipped'
);
select is((select count(*)::integer from calling_hours_rules
            where state is not null and not (enabled and citation is not null and purposes = '{telemarketing}')),
          0, 'every state rule is enabled, cites its statute and covers telemarketing');
select results_eq(
  $$select start_time, end_time, days, max_calls_per_24h, citation from calling_hours_rules where prefix = '+1305'$$,
  $$values ('08:00'::time, '20:00'::time, '{1,2,3,4,5,6,7}'::smallint[], 3, 'Fla. Stat. 501.616(6)')$$,
  'Florida: 8 am to 8 pm every day, 3 calls per 24 hours'
);
select results_eq(
  $$select start_time, end_time, days, max_calls_per_24h, '2026-12-25'::date = any (holidays) from calling_hours_rules where prefix = '+1405'$$,
  $$values ('08:00'::time, '20:00'::time, '{1,2,3,4,5,6}'::smallint[], 3, true)$$,
  'Oklahoma: 8 am to 8 pm, no Sundays, legal holidays, 3 calls per 24 hours'
);
select results_eq(
  $$select start_time, end_time, max_calls_per_24h, effective_date from calling_hours_rules where prefix = '+1410'$$,
  $$values ('08:00'::time, '20:00'::time, 3, '2024-01-01'::date)$$,
  'Maryland: 8 am to 8 pm, 3 calls per 24 hours, in force since 2024'
);
select throws_ok($$insert into calling_hours_rules (purposes) values ('{sales}')$$,
                 '23514', 'new row for relation "calling_hours_rules" violates check constraint "calling_hours_rules_purposes_are_known"',
                 'an unknown purpose is refused');

select * from finish();
rollback;
