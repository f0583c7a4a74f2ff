-- A heartbeat extends the lease while it is held with the holder's token; once it has expired,
-- been released or been taken over, renewing fails and the holder knows it lost the lease.
begin;
\ir ../_helpers.psql
select plan(6);

delete from scheduler_leases;
create temp table mine on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 1', 30000, tests.wednesday_noon());

select is(renew_scheduler_lease('dispatch', (select token from mine), 30000, tests.wednesday_noon() + interval '20 seconds'),
          true, 'a heartbeat before the expiry renews');
select is((select expires_at from scheduler_leases where name = 'dispatch'), tests.wednesday_noon() + interval '50 seconds',
          'to the heartbeat plus the TTL');
select is(renew_scheduler_lease('dispatch', (select token from mine) + 1, 30000, tests.wednesday_noon() + interval '21 seconds'),
          false, 'another token renews nothing');
select is(renew_scheduler_lease('dispatch', (select token from mine), 30000, tests.wednesday_noon() + interval '50 seconds'),
          false, 'a heartbeat after the expiry is too late: the lease is lost');

select acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '50 seconds');
select is(renew_scheduler_lease('dispatch', (select token from mine), 30000, tests.wednesday_noon() + interval '51 seconds'),
          false, 'the old holder cannot renew a lease taken over');
select is((select holder from scheduler_leases where name = 'dispatch'), 'run 2', 'the new holder keeps it');

select * from finish();
rollback;
