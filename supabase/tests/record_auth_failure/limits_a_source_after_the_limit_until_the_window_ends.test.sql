-- Failures are counted per source in a fixed window: over the limit the source is limited, with the
-- time left in its window; other sources are not; a new window starts afresh; quiet rows go.
begin;
\ir ../_helpers.psql
select plan(8);

select is((select array_agg(limited order by n) from (
             select n, (record_auth_failure('203.0.113.7', 'scheduler-tick', 3, '10 minutes', tests.wednesday_noon() + n * interval '1 second')).limited
               from generate_series(1, 5) n) x),
          array[false, false, false, true, true], 'the 4th and 5th failure of a source with a limit of 3 are limited');
select is((select (failures, limited_since) from auth_failures where source = '203.0.113.7'),
          (5, tests.wednesday_noon() + interval '4 seconds'), 'counted, with when the source went over');
select is((select retry_after_ms from record_auth_failure('203.0.113.7', 'scheduler-admin', 3, '10 minutes', tests.wednesday_noon() + interval '60 seconds')),
          541000, 'retry after: until the window that started at the first failure ends');
select is((select last_function from auth_failures where source = '203.0.113.7'), 'scheduler-admin', 'the last function is noted');
select is((select limited from record_auth_failure('198.51.100.1', 'scheduler-tick', 3, '10 minutes', tests.wednesday_noon() + interval '61 seconds')),
          false, 'another source is not limited');
select is((select (failures, limited, retry_after_ms) from record_auth_failure('203.0.113.7', 'scheduler-tick', 3, '10 minutes', tests.wednesday_noon() + interval '10 minutes 1 second')),
          (1, false, 0), 'a new window starts afresh');
select is((select count(*)::integer from auth_failures where source = '198.51.100.1'), 1, '(the other source is still there)');
select record_auth_failure('192.0.2.1', 'call-status', 3, '10 minutes', tests.wednesday_noon() + interval '2 days');
select is((select array_agg(source order by source) from auth_failures), array['192.0.2.1'], 'sources quiet for a day are deleted');

select * from finish();
rollback;
