-- One holder at a time: a second acquirer is refused while the lease runs, and takes it over the
-- instant it expires (a crashed holder's lease simply expires), with a new, larger fencing token.
begin;
\ir ../_helpers.psql
select plan(9);

delete from scheduler_leases;

create temp table first_take on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 1', 30000, tests.wednesday_noon());
select is((select acquired from first_take), true, 'a lease never taken is free');
select is((select expires_at from first_take), tests.wednesday_noon() + interval '30 seconds', 'it runs for the TTL');

create temp table refused on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '29.999 seconds');
select is((select acquired from refused), false, 'a second holder is refused while the lease runs');
select is((select (holder, token) from refused), (select ('run 1'::text, token) from first_take),
          'and is told who holds it, with which token');
select is((select holder from scheduler_leases where name = 'dispatch'), 'run 1', 'the refusal changed nothing');

create temp table taken_over on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '30 seconds');
select is((select acquired from taken_over), true, 'an expired lease is taken over');
select cmp_ok((select token from taken_over), '>', (select token from first_take), 'with a larger fencing token');
select is(
  (select (holder, acquired_at, expires_at, released_at) from scheduler_leases where name = 'dispatch'),
  ('run 2'::text, tests.wednesday_noon() + interval '30 seconds', tests.wednesday_noon() + interval '60 seconds', null::timestamptz),
  'the row shows the new holder and its expiry (what Studio shows)'
);
select throws_ok($$select * from acquire_scheduler_lease('dispatch', 'run 3', 0)$$, '22023', null, 'a TTL below 1 ms is refused');

select * from finish();
rollback;
