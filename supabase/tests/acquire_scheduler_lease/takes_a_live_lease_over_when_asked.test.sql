-- Continuous dispatch hands over: the newest tick takes the 'dispatch' lease over from a live holder
-- (p_take_over), with a new fencing token; the previous holder can no longer renew it nor claim.
begin;
\ir ../_helpers.psql
select plan(6);

select token as first from acquire_scheduler_lease('dispatch', 'run 1', 30000, tests.wednesday_noon()) \gset
select is(
  (select acquired from acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '1 second')),
  false,
  'without p_take_over a live lease is left alone'
);
create temp table taken on commit drop as
  select * from acquire_scheduler_lease('dispatch', 'run 2', 30000, tests.wednesday_noon() + interval '2 seconds', true);
select is((select acquired from taken), true, 'with p_take_over it is taken from the live holder');
select ok((select token from taken) > :first, 'with a new, larger fencing token');
select is((select holder from scheduler_leases where name = 'dispatch'), 'run 2', 'Studio shows the new holder');
select is(
  renew_scheduler_lease('dispatch', :first, 30000, tests.wednesday_noon() + interval '3 seconds'),
  false,
  'the previous holder cannot renew it'
);
select throws_ok(
  format('select * from claim_queued_calls(1, null, %L, %s)', tests.wednesday_noon() + interval '3 seconds', :first),
  'SL001', null, 'nor claim with its old token'
);

select * from finish();
rollback;
