-- finish_scheduler_run() records a run's status, counts and errors. A run reported ok with errors is
-- partial; finishing a finished run changes nothing (a retried request cannot rewrite history).
begin;
\ir ../_helpers.psql
select plan(7);

select run_id from start_scheduler_run('vercel', tests.wednesday_noon(), p_now => tests.wednesday_noon()) \gset

select results_eq(
  format($$select status, calls_reserved, calls_launched, campaigns_processed, breaker_state, duration_ms, jsonb_array_length(errors)
             from finish_scheduler_run(%s, 'ok',
                    '{"calls_reserved": 12, "calls_launched": 10, "campaigns_processed": 3, "breaker_state": "closed"}',
                    '[{"stage": "dispatch", "call_id": 7, "message": "HTTP 500"}]',
                    tests.wednesday_noon() + interval '2.5 seconds')$$, :run_id),
  $$values ('partial'::scheduler_run_status, 12, 10, 3, 'closed', 2500, 1)$$,
  'ok with errors is recorded as partial, with its counts and duration'
);
select is(
  (select status from finish_scheduler_run(:run_id, 'failed', '{"calls_reserved": 99}', '[]', tests.wednesday_noon() + interval '9 seconds')),
  'partial'::scheduler_run_status,
  'finishing it again returns the run unchanged'
);
select results_eq(
  format('select status, calls_reserved, finished_at from scheduler_runs where id = %s', :run_id),
  $$values ('partial'::scheduler_run_status, 12, tests.wednesday_noon() + interval '2.5 seconds')$$,
  'and the stored row is the first outcome'
);

select run_id as clean_run from start_scheduler_run('vercel', tests.wednesday_noon() + interval '1 minute', p_now => tests.wednesday_noon() + interval '1 minute') \gset
select is((select status from finish_scheduler_run(:clean_run, 'ok', '{}', '[]', tests.wednesday_noon() + interval '61 seconds')),
          'ok'::scheduler_run_status, 'ok without errors stays ok');
select is((select errors from finish_scheduler_run(:clean_run, 'ok', '{}', '{"message": "late"}', tests.wednesday_noon() + interval '62 seconds')),
          '[]'::jsonb, 'a late error for a finished run is not added');

select throws_ok(
  format($$select finish_scheduler_run(%s, 'running')$$, :run_id),
  '22023', 'a run cannot finish with status running',
  'a run cannot finish as running'
);
select throws_ok(
  $$select finish_scheduler_run(424242, 'ok')$$,
  'P0002', 'scheduler run 424242 does not exist',
  'finishing an unknown run is refused'
);

select * from finish();
rollback;
