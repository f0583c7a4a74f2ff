-- Calling-hours rules: every enabled rule whose prefix starts the number must allow the call
-- (strictest wins), in the given zone; days and holidays count in local time; an unknown or null
-- zone never dials; impossible rules are refused by named CHECKs. The migrations seed the US
-- federal rules (every number, 08:00-21:00, enabled: telemarketing, debt collection) and the state
-- rules (enabled; supabase/tests/calling_hours_state_rules/ tests them).
begin;
\ir ../_helpers.psql
select plan(18);

select results_eq(
  $$select prefix, start_time, end_time, enabled, purposes, citation from calling_hours_rules where state is null order by id$$,
  $$values ('', '08:00'::time, '21:00'::time, true, '{telemarketing}'::text[], '47 CFR 64.1200(c)(1)'),
           ('', '08:00', '21:00', true, '{debt_collection}', '12 CFR 1006.6(b)(1)(i)')$$,
  'seeded: the federal rules, on, for telemarketing and for debt collection'
);

-- Wednesday 2026-12-02; New York is UTC-5.
select is(calling_hours_allow('2026-12-02 12:59:59+00', 'America/New_York', '+12125550100'), false,
          '07:59:59 in New York: before 8 am');
select is(calling_hours_allow('2026-12-02 13:00:00+00', 'America/New_York', '+12125550100'), true,
          '08:00 in New York: allowed');
select is(calling_hours_allow('2026-12-03 01:59:00+00', 'America/New_York', '+12125550100'), true,
          '20:59 in New York: allowed');
select is(calling_hours_allow('2026-12-03 02:00:00+00', 'America/New_York', '+12125550100'), false,
          '21:00 in New York: after 9 pm');
select is(calling_hours_allow('2026-12-02 12:00:00+00', 'Mars/Olympus_Mons', '+12125550100'), false,
          'an unknown zone never dials');
select is(calling_hours_allow('2026-12-02 12:00:00+00', null, '+12125550100'), false,
          'no zone never dials');

-- A state rule (Oklahoma, seeded enabled): stricter hours, no Sundays, holidays, only for its prefix.
update calling_hours_rules set holidays = '{2026-12-02}' where prefix = '+1405';
select is(calling_hours_allow('2026-12-02 18:00:00+00', 'America/Chicago', '+14055550100'), false,
          'a holiday of the rule: its numbers are not called');
select is(calling_hours_allow('2026-12-02 18:00:00+00', 'America/Chicago', '+13125550100'), true,
          'numbers outside its prefix are not affected');
select is(calling_hours_allow('2026-12-06 18:00:00+00', 'America/Chicago', '+14055550100'), false,
          'Sunday is not among its days');
select is(calling_hours_allow('2026-12-03 02:30:00+00', 'America/Chicago', '+14055550100'), false,
          '20:30 in Chicago: inside the federal hours, outside the state rule''s (strictest wins)');
select is(calling_hours_allow('2026-12-03 18:00:00+00', 'America/Chicago', '+14055550100'), true,
          'a Thursday at noon: every matching rule allows');

-- Overlapping prefixes all apply.
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+14', '13:00', '14:00', 'test');
select is(calling_hours_allow('2026-12-03 18:00:00+00', 'America/Chicago', '+14055550100'), false,
          'a wider overlapping prefix with stricter hours also applies');

select throws_ok($$insert into calling_hours_rules (start_time, end_time) values ('08:00', '08:00')$$,
                 '23514', 'new row for relation "calling_hours_rules" violates check constraint "calling_hours_rules_start_differs_from_end"',
                 'a rule starting when it ends is refused (a period that wraps midnight has start > end)');
select throws_ok($$insert into calling_hours_rules (start_time, end_time) values ('24:00', '06:00')$$,
                 '23514', 'new row for relation "calling_hours_rules" violates check constraint "calling_hours_rules_start_before_midnight"',
                 'a rule starting at 24:00 is refused (write 00:00)');
select throws_ok($$insert into calling_hours_rules (start_time) values ('25:00')$$,
                 '22008', null, 'an impossible time is refused by the type');
select throws_ok($$insert into calling_hours_rules (days) values ('{0,8}')$$,
                 '23514', null, 'days outside ISO 1-7 are refused');
select throws_ok($$insert into calling_hours_rules (prefix) values ('1305')$$,
                 '23514', null, 'a prefix that is not the start of an E.164 number is refused');

select * from finish();
rollback;
