-- Circuit breaker, kept in the database so it spans ticks and instances: breaker_failure_threshold
-- consecutive failures open it; while open nothing is dispatched; after breaker_cooldown exactly
-- one probe is allowed, whose success closes the breaker and whose failure opens it again.
begin;
\ir ../_helpers.psql
select plan(16);

update scheduler_settings set breaker_failure_threshold = 3, breaker_cooldown = '60 seconds';

create function pg_temp.at(p_seconds integer) returns timestamptz language sql as $$
  select tests.wednesday_noon() + p_seconds * interval '1 second'
$$;

select is(acquire_dispatch_permit('default', pg_temp.at(0)), 'closed', 'a provider never seen is closed: dispatch');
select is(record_provider_result('default', false, 'HTTP 500', pg_temp.at(1)), 'closed', 'one failure: still closed');
select is(record_provider_result('default', false, 'HTTP 502', pg_temp.at(2)), 'closed', 'two failures: still closed');
select is(record_provider_result('default', true, null, pg_temp.at(3)), 'closed', 'a success resets the count');
select is(record_provider_result('default', false, 'HTTP 500', pg_temp.at(4)), 'closed', 'so one more failure is not the third');
select is(record_provider_result('default', false, 'HTTP 500', pg_temp.at(5)), 'closed', 'nor two');
select is(record_provider_result('default', false, 'timeout', pg_temp.at(6)), 'open', 'three consecutive failures open the breaker');
select results_eq(
  $$select state, consecutive_failures, opened_at, open_until, last_failure_reason from provider_circuit_breakers where account = 'default'$$,
  $$values ('open', 3, pg_temp.at(6), pg_temp.at(66), 'timeout')$$,
  'it is open for the cool-down, with the last reason'
);
select is(acquire_dispatch_permit('default', pg_temp.at(65)), 'open', 'during the cool-down nothing is dispatched');
select is(acquire_dispatch_permit('other-provider', pg_temp.at(65)), 'closed', 'another provider has its own breaker');

select is(acquire_dispatch_permit('default', pg_temp.at(66)), 'probe', 'after the cool-down one dispatcher gets the probe');
select is(acquire_dispatch_permit('default', pg_temp.at(66)), 'open', 'a second dispatcher at the same moment does not');
select is(acquire_dispatch_permit('default', pg_temp.at(100)), 'open', 'nor later, while the probe is in flight');

select is(record_provider_result('default', false, 'HTTP 503', pg_temp.at(101)), 'open', 'a failed probe opens the breaker again');
select is(acquire_dispatch_permit('default', pg_temp.at(160)), 'open', 'for a whole new cool-down');

select is(acquire_dispatch_permit('default', pg_temp.at(161)) || ' then ' || record_provider_result('default', true, null, pg_temp.at(162))
          || ' then ' || acquire_dispatch_permit('default', pg_temp.at(163)),
          'probe then closed then closed',
          'after the next cool-down a successful probe closes the breaker and dispatch resumes');

select * from finish();
rollback;
