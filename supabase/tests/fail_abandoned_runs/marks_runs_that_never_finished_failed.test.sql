-- Invariant 5: a tick that crashed leaves its run 'running'; after abandoned_run_timeout
-- (10 minutes) housekeeping marks it failed with an explanation, so every tick ends with a status.
begin;
\ir ../_helpers.psql
select plan(5);

select run_id as crashed from start_scheduler_run('vercel', tests.wednesday_noon() - interval '11 minutes', p_now => tests.wednesday_noon() - interval '11 minutes') \gset
select run_id as recent from start_scheduler_run('vercel', tests.wednesday_noon() - interval '5 minutes', p_now => tests.wednesday_noon() - interval '5 minutes') \gset
select run_id as finished from start_scheduler_run('local', tests.wednesday_noon() - interval '20 minutes', p_now => tests.wednesday_noon() - interval '20 minutes') \gset
select finish_scheduler_run(:finished, 'ok', p_now => tests.wednesday_noon() - interval '20 minutes');

select is(fail_abandoned_runs(tests.wednesday_noon()), 1, 'one run is abandoned');
select results_eq(
  format('select status, finished_at, duration_ms, errors from scheduler_runs where id = %s', :crashed),
  $$values ('failed'::scheduler_run_status, tests.wednesday_noon(), 660000,
            '[{"stage": "abandoned", "message": "the tick stopped before recording its end (crash, kill or timeout)"}]'::jsonb)$$,
  'the run left running for 11 minutes is failed, with its duration and why'
);
select is((select status from scheduler_runs where id = :recent), 'running'::scheduler_run_status, 'a run 5 minutes old may still be working');
select is((select status from scheduler_runs where id = :finished), 'ok'::scheduler_run_status, 'a finished run is untouched');
select is(fail_abandoned_runs(tests.wednesday_noon()), 0, 'running it again changes nothing');

select * from finish();
rollback;
