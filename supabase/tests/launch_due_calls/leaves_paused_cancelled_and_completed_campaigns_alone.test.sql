-- Invariant 3, campaign status: only QUEUED and RUNNING campaigns are served. PAUSED, CANCELLED and
-- COMPLETED campaigns get no calls, are not reported, and keep their status and contacts.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign(name => 'paused', status => 'PAUSED') as paused_id \gset
select tests.create_campaign(name => 'cancelled', status => 'CANCELLED') as cancelled_id \gset
select tests.create_campaign(name => 'completed', status => 'COMPLETED') as completed_id \gset
select tests.create_campaign(name => 'paused and empty', status => 'PAUSED') as paused_empty_id \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 3) where c.name <> 'paused and empty';

create temp table launched on commit drop as select * from launch_due_calls(tests.wednesday_noon());

select is((select count(*)::integer from launched), 0, 'launch_due_calls() reports none of them');
select is((select count(*)::integer from calls), 0, 'no call is reserved');
select results_eq(
  'select name, status from campaigns order by id',
  $$values ('paused', 'PAUSED'::campaign_status), ('cancelled', 'CANCELLED'), ('completed', 'COMPLETED'),
           ('paused and empty', 'PAUSED')$$,
  'their status is unchanged (a paused campaign with nothing to do is not completed)'
);
select is((select count(*)::integer from campaigns where last_served_at is not null), 0, 'none is marked served');
select is((select count(*)::integer from contacts where status <> 'pending'), 0, 'their contacts stay pending');

update campaigns set status = 'RUNNING' where id = :paused_id;
select is(tests.launch(tests.wednesday_noon() + interval '1 minute'), 3, 'a resumed campaign is served again');

select * from finish();
rollback;
