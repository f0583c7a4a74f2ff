-- The pg_cron side: the migrations schedule 'campaign-scheduler-tick' (every minute, one select of
-- run_cron_tick()) and 'campaign-scheduler-purge' (daily) exactly once; ensuring them again
-- updates them in place, never adding a second job; and the tick job's command runs.
begin;
\ir ../_helpers.psql
select plan(10);

select results_eq(
  $$select jobname::text collate "default", schedule, command, database from cron.job
     where jobname like 'campaign-scheduler-%' order by jobname$$,
  $$values ('campaign-scheduler-purge', '17 3 * * *', 'select public.purge_scheduler_history()', current_database()::text collate "default"),
           ('campaign-scheduler-tick', '* * * * *', 'select public.run_cron_tick()', current_database()::text collate "default")$$,
  'the tick (every minute) and the purge (daily) jobs exist, in this database'
);
select is((select count(*)::integer from cron.job where jobname = 'campaign-scheduler-tick'), 1, 'exactly one tick job');
select is((select count(*)::integer from cron.job where jobname = 'campaign-scheduler-purge'), 1, 'exactly one purge job');

select jobid as tick_job from cron.job where jobname = 'campaign-scheduler-tick' \gset

select results_eq(
  $$select jobname collate "default", schedule, command from ensure_scheduler_cron_jobs()$$,
  $$values ('campaign-scheduler-purge', '17 3 * * *', 'select public.purge_scheduler_history()'),
           ('campaign-scheduler-tick', '* * * * *', 'select public.run_cron_tick()')$$,
  'ensure_scheduler_cron_jobs() returns the two jobs'
);
select is((select count(*)::integer from cron.job where jobname like 'campaign-scheduler-%'), 2,
          'calling it again keeps exactly one job of each');
select is((select jobid from cron.job where jobname = 'campaign-scheduler-tick'), :tick_job::bigint,
          'the tick job keeps its id: updated in place');

select ensure_scheduler_cron_jobs('*/2 * * * *', '0 4 * * *');
select results_eq(
  $$select schedule from cron.job where jobname like 'campaign-scheduler-%' order by jobname$$,
  $$values ('0 4 * * *'), ('*/2 * * * *')$$,
  'new schedules replace the old ones'
);
select is((select count(*)::integer from cron.job where jobname like 'campaign-scheduler-%'), 2, 'still two jobs');

select lives_ok(
  (select command from cron.job where jobname = 'campaign-scheduler-tick'),
  'the tick job''s command runs'
);
select results_eq(
  $$select trigger, status from scheduler_runs$$,
  $$values ('pg_cron'::scheduler_trigger, 'ok'::scheduler_run_status)$$,
  'and leaves one ok run row from pg_cron'
);

select * from finish();
rollback;
