-- A released lease is free at once (no wait for the expiry); a stale token releases nothing.
begin;
\ir ../_helpers.psql
select plan(5);

delete from scheduler_leases;
create temp table mine on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 1', 30000, now());

select is(release_scheduler_lease('dispatch', (select token from mine) + 1), false, 'another token releases nothing');
select is(release_scheduler_lease('dispatch', (select token from mine)), true, 'the holder releases');
select isnt((select released_at from scheduler_leases where name = 'dispatch'), null, 'the row says when');
select is(release_scheduler_lease('dispatch', (select token from mine)), false, 'a second release is a no-op');
select is((select acquired from acquire_scheduler_lease('dispatch', 'run 2', 30000, now())), true,
          'the next holder takes it before the old expiry');

select * from finish();
rollback;
