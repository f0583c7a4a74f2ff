-- Fencing: a dispatcher passes its 'dispatch' lease token to claim_queued_calls(). While the token
-- holds the lease it claims as before; once the lease expired or was taken over it claims nothing
-- and raises SL001, so a holder that lost its lease notices before it dials anything new.
begin;
\ir ../_helpers.psql
select plan(6);

delete from scheduler_leases;
select tests.create_campaign(cap => 5);
select tests.add_contacts(1, 4);
select count(*) from launch_due_calls(tests.wednesday_noon());

create temp table old_holder on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 1', 30000, tests.wednesday_noon());

select is((select count(*)::integer from claim_queued_calls(1, null, tests.wednesday_noon() + interval '10 seconds',
                                                            (select token from old_holder))),
          1, 'the holder claims while its token holds the lease');
select throws_ok(
  format('select * from claim_queued_calls(1, null, %L, %s)', tests.wednesday_noon() + interval '30 seconds',
         (select token from old_holder)),
  'SL001', null, 'after the expiry the same token claims nothing: dispatch lease lost'
);

create temp table new_holder on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '30 seconds');
select throws_ok(
  format('select * from claim_queued_calls(1, null, %L, %s)', tests.wednesday_noon() + interval '31 seconds',
         (select token from old_holder)),
  'SL001', null, 'nor once another dispatcher took the lease over'
);
select is((select count(*)::integer from calls where status = 'queued'), 3, 'the refused claims left the queue alone');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '31 seconds',
                                                            (select token from new_holder))),
          3, 'the new holder claims the rest');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '32 seconds')), 0,
          'without a token, no fencing (pg_cron and tests): nothing left to claim');

select * from finish();
rollback;
