-- A probe whose dispatcher crashed never reports. The breaker must not stay half-open forever:
-- one cool-down after the probe started, another single probe is allowed.
begin;
\ir ../_helpers.psql
select plan(3);

update scheduler_settings set breaker_failure_threshold = 1, breaker_cooldown = '60 seconds';
select record_provider_result('default', false, 'HTTP 500', tests.wednesday_noon());

select is(acquire_dispatch_permit('default', tests.wednesday_noon() + interval '60 seconds'), 'probe', 'the first probe');
select is(acquire_dispatch_permit('default', tests.wednesday_noon() + interval '119 seconds'), 'open',
          'no second probe while the first may still report');
select is(acquire_dispatch_permit('default', tests.wednesday_noon() + interval '120 seconds'), 'probe',
          'a cool-down after an unanswered probe, one new probe');

select * from finish();
rollback;
