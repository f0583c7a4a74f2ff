-- Campaign dates: before starts_at a campaign is not served (nothing reserved, still QUEUED); past
-- ends_at it reserves nothing, claim_queued_calls() releases the calls it had queued, and it becomes
-- COMPLETED once no call of it is active, even with contacts left. ends_at must come after starts_at.
begin;
\ir ../_helpers.psql
select plan(11);

select tests.create_campaign(name => 'not started') as later_id \gset
update campaigns set starts_at = tests.wednesday_noon() + interval '1 hour' where id = :later_id;
select count(*) from tests.add_contacts(:later_id, 2);

select tests.create_campaign(name => 'in its dates') as open_id \gset
update campaigns set starts_at = tests.wednesday_noon() - interval '1 hour',
                     ends_at = tests.wednesday_noon() + interval '1 hour' where id = :open_id;
select count(*) from tests.add_contacts(:open_id, 2);

select tests.create_campaign(name => 'ended', cap => 1) as ended_id \gset
select count(*) from tests.add_contacts(:ended_id, 3);
-- One call queued while it could still run, then its end passes.
select tests.launch(tests.wednesday_noon() - interval '10 minutes');
update campaigns set ends_at = tests.wednesday_noon() - interval '1 minute' where id = :ended_id;

create temp table launched on commit drop as select * from launch_due_calls(tests.wednesday_noon());

select is((select count(*)::integer from calls where campaign_id = :later_id), 0,
          'nothing is reserved before starts_at');
select is((select status from campaigns where id = :later_id), 'QUEUED'::campaign_status,
          'a campaign before its start stays QUEUED');
select is((select count(*)::integer from launched where campaign_id = :later_id), 0,
          'a campaign before its start is not examined');
select is((select count(*)::integer from calls where campaign_id = :open_id), 2,
          'a campaign between starts_at and ends_at is served');
select results_eq(
  $$select reserved, campaign_status from launched where campaign_id = $$ || :ended_id,
  $$values (0, 'RUNNING'::campaign_status)$$,
  'a campaign past ends_at reserves nothing, even with room and contacts left; its call in flight keeps it open'
);

-- The claim re-checks the dates: the ended campaign's queued call is released, not dialled.
select is(
  (select release_reason from claim_queued_calls(100, null, tests.wednesday_noon() + interval '1 minute')
    where campaign_id = :ended_id),
  'campaign has ended',
  'claim_queued_calls() releases a queued call of a campaign past its end'
);
select is((select attempts from contacts where campaign_id = :ended_id order by id limit 1), 0,
          'the released call counts no attempt');

select results_eq(
  $$select outcome, reserved, campaign_status from launch_due_calls(tests.wednesday_noon() + interval '2 minutes')
     where campaign_id = $$ || :ended_id,
  $$values ('completed'::launch_outcome, 0, 'COMPLETED'::campaign_status)$$,
  'with no call in flight, the ended campaign completes although contacts are left'
);
select is((select completed_at from campaigns where id = :ended_id), tests.wednesday_noon() + interval '2 minutes',
          'completed_at is p_now');

select is(
  (select count(*)::integer from launch_due_calls(tests.wednesday_noon() + interval '2 hours')
    where campaign_id = :later_id and reserved = 2), 1,
  'once started the campaign reserves calls'
);

select throws_ok(
  $$update campaigns set starts_at = '2026-12-01', ends_at = '2026-11-01' where id = $$ || :open_id,
  '23514', null, 'ends_at before starts_at is refused (campaigns_ends_after_starts)'
);

select * from finish();
rollback;
