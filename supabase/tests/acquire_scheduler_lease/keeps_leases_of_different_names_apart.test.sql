-- Each name is its own lease.
begin;
\ir ../_helpers.psql
select plan(2);

delete from scheduler_leases;
select acquire_scheduler_lease('dispatch', 'a', 30000, tests.wednesday_noon());
select is((select acquired from acquire_scheduler_lease('refill', 'b', 30000, tests.wednesday_noon())), true,
          'another name is free while dispatch is held');
select is((select count(*)::integer from scheduler_leases), 2, 'one row per name');

select * from finish();
rollback;
