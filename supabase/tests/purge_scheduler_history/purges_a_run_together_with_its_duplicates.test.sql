-- A duplicate row only means something next to the run it duplicates. When the purge's cut-off falls
-- between a run and its duplicates (deliveries a few seconds apart, purged exactly 30 days later),
-- the purge must still succeed and leave no duplicate pointing nowhere.
begin;
\ir ../_helpers.psql
select plan(3);

-- The first delivery one second before the cut-off, two more deliveries of that minute just after it.
select start_scheduler_run('vercel', tests.wednesday_noon() - interval '30 days',
                           p_now => tests.wednesday_noon() - interval '30 days' - interval '1 second');
select finish_scheduler_run(max(id), 'ok', p_now => tests.wednesday_noon() - interval '30 days') from scheduler_runs;
select start_scheduler_run('vercel', tests.wednesday_noon() - interval '30 days',
                           p_now => tests.wednesday_noon() - interval '30 days' + interval '1 second');
select start_scheduler_run('vercel', tests.wednesday_noon() - interval '30 days',
                           p_now => tests.wednesday_noon() - interval '30 days' + interval '2 seconds');

select lives_ok($$select purge_scheduler_history(tests.wednesday_noon())$$,
                'the purge succeeds when a run is older than the retention and its duplicates are not');
select is((select count(*)::integer from scheduler_runs where status = 'duplicate' and duplicate_of is null), 0,
          'no duplicate row is left without the run it duplicates');
select is((select count(*)::integer from scheduler_runs), 0, 'the run goes together with its duplicates');

select * from finish();
rollback;
