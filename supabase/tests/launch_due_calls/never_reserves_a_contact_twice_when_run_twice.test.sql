-- Test case "Run twice quickly -> No duplicates" (invariant 2): repeating launch_due_calls() at the
-- same instant, or a minute later, reserves nothing new for contacts that already have a call.
begin;
\ir ../_helpers.psql
select plan(5);

select tests.create_campaign(cap => 10) as campaign_id \gset
select tests.add_contacts(:campaign_id, 4);

select is(tests.launch(tests.wednesday_noon()), 4, 'the first run reserves one call per due contact');
select is(tests.launch(tests.wednesday_noon()), 0, 'a second run at the same instant reserves nothing');
select is(tests.launch(tests.wednesday_noon() + interval '1 minute'), 0, 'nor does a run one minute later');
select is((select count(*)::integer from calls), 4, 'there are still exactly 4 calls');
select is(
  (select max(n)::integer from (select count(*) as n from calls group by contact_id) per_contact),
  1,
  'no contact has more than one call'
);

select * from finish();
rollback;
