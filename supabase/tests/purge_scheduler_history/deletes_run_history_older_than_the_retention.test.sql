-- Old run rows are purged on a schedule: scheduler_runs and pg_cron's job_run_details older than
-- run_log_retention (30 days) go; newer rows, running rows and calls stay.
begin;
\ir ../_helpers.psql
select plan(7);

select run_id as old_run from start_scheduler_run('pg_cron', tests.wednesday_noon() - interval '31 days', p_now => tests.wednesday_noon() - interval '31 days') \gset
select finish_scheduler_run(:old_run, 'ok', p_now => tests.wednesday_noon() - interval '31 days');
select run_id as recent_run from start_scheduler_run('pg_cron', tests.wednesday_noon() - interval '29 days', p_now => tests.wednesday_noon() - interval '29 days') \gset
select finish_scheduler_run(:recent_run, 'ok', p_now => tests.wednesday_noon() - interval '29 days');
select run_id as stuck_run from start_scheduler_run('vercel', tests.wednesday_noon() - interval '40 days', p_now => tests.wednesday_noon() - interval '40 days') \gset

-- A call reserved by the old run keeps its history (run_id is set null, the call stays).
select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1, next_attempt_at => tests.wednesday_noon() - interval '40 days');
select launch_due_calls(tests.wednesday_noon() - interval '28 days', null, :old_run);

insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
values (0, -1, current_database(), current_user, 'select public.run_cron_tick()', 'succeeded', '1 row',
        tests.wednesday_noon() - interval '31 days', tests.wednesday_noon() - interval '31 days' + interval '1 second'),
       (0, -2, current_database(), current_user, 'select public.run_cron_tick()', 'succeeded', '1 row',
        tests.wednesday_noon() - interval '1 day', tests.wednesday_noon() - interval '1 day' + interval '1 second');
select count(*)::integer as cron_rows_to_purge from cron.job_run_details
 where end_time < tests.wednesday_noon() - interval '30 days' \gset

select is(
  purge_scheduler_history(tests.wednesday_noon()),
  jsonb_build_object('scheduler_runs_deleted', 1, 'cron_job_run_details_deleted', :cron_rows_to_purge),
  'purge reports what it deleted'
);
select set_eq('select id from scheduler_runs', format('values (%s::bigint), (%s)', :recent_run, :stuck_run),
              'the 31-day-old run is gone; the 29-day-old run and the still-running one stay');
select is((select count(*)::integer from cron.job_run_details where runid = -1), 0, 'the old job_run_details row is gone');
select is((select count(*)::integer from cron.job_run_details where runid = -2), 1, 'the recent job_run_details row stays');
select is((select count(*)::integer from cron.job_run_details where end_time < tests.wednesday_noon() - interval '30 days'), 0,
          'no job_run_details row older than the retention is left');
select results_eq('select count(*)::integer, bool_and(run_id is null) from calls', $$values (1, true)$$,
                  'the call reserved by the purged run is kept, without its run id');
select is(purge_scheduler_history(tests.wednesday_noon()),
          '{"scheduler_runs_deleted": 0, "cron_job_run_details_deleted": 0}'::jsonb, 'purging again deletes nothing');

select * from finish();
rollback;
