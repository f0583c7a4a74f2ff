-- "Partial failure -> Others continue": a campaign that cannot dial (no caller id) is reported in
-- its row (outcome set_up_problem, with the problem) and reserves nothing; the other campaigns are served as usual.
begin;
\ir ../_helpers.psql
select plan(4);

select tests.create_campaign(name => 'no caller id', caller_id => null) as broken_id \gset
select tests.create_campaign(name => 'fine') as fine_id \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 2);

select results_eq(
  $$select c.name, l.reserved, l.outcome, l.problem from launch_due_calls(tests.wednesday_noon()) l join campaigns c on c.id = l.campaign_id$$,
  $$values ('no caller id', 0, 'set_up_problem'::launch_outcome, 'caller_id is not set'), ('fine', 2, 'served', null)$$,
  'the malformed campaign is reported with a reason; the other one reserves its calls'
);
select is((select count(*)::integer from calls where campaign_id = :broken_id), 0, 'the malformed campaign has no call');
select is((select status from campaigns where id = :broken_id), 'QUEUED'::campaign_status,
          'it is neither started nor completed: it waits for a caller id');
select is((select count(*)::integer from contacts where campaign_id = :broken_id and status = 'pending'), 2,
          'its contacts stay pending');

select * from finish();
rollback;
