-- Tick identity: one real run per (trigger, scheduled minute). A second delivery of the same
-- trigger's minute (Vercel Cron may deliver twice) is recorded as a finished 'duplicate' pointing
-- at the first, so that its caller does no work. Manual triggers are rate-limited instead.
begin;
\ir ../_helpers.psql
select plan(10);

create temp table first_start on commit drop as
  select * from start_scheduler_run('vercel', tests.wednesday_noon(), p_now => tests.wednesday_noon() + interval '1 second');
select run_id as first_run from first_start \gset
select is((select duplicate_of from first_start), null, 'the first delivery of a minute is no duplicate');
select results_eq(
  format('select trigger, scheduled_for, status, finished_at from scheduler_runs where id = %s', :first_run),
  $$values ('vercel'::scheduler_trigger, tests.wednesday_noon(), 'running'::scheduler_run_status, null::timestamptz)$$,
  'it is recorded as running, for its scheduled minute'
);

select run_id as second_run, duplicate_of as second_duplicate_of
  from start_scheduler_run('vercel', tests.wednesday_noon() + interval '30 seconds', p_now => tests.wednesday_noon() + interval '31 seconds') \gset
select is(:second_duplicate_of::bigint, :first_run::bigint, 'a second delivery within the same minute is a duplicate of the first');
select results_eq(
  format('select status, scheduled_for, finished_at, duration_ms, duplicate_of from scheduler_runs where id = %s', :second_run),
  format($$values ('duplicate'::scheduler_run_status, tests.wednesday_noon(), tests.wednesday_noon() + interval '31 seconds', 0, %s::bigint)$$, :first_run),
  'the duplicate is recorded, already finished, pointing at the first run'
);
select is((select duplicate_of from start_scheduler_run('vercel', tests.wednesday_noon(), p_now => tests.wednesday_noon() + interval '40 seconds')),
          :first_run::bigint, 'a third delivery is a duplicate too');
select is((select duplicate_of from start_scheduler_run('pg_cron', tests.wednesday_noon(), p_now => tests.wednesday_noon() + interval '1 second')),
          null, 'another trigger''s tick for the same minute is not a duplicate');
select is((select duplicate_of from start_scheduler_run('vercel', tests.wednesday_noon() + interval '1 minute', p_now => tests.wednesday_noon() + interval '61 seconds')),
          null, 'the next minute is not a duplicate');

-- Manual triggers: at most one per manual_trigger_min_interval (10 seconds).
select is((select run_id is not null from start_scheduler_run('manual', p_now => tests.wednesday_noon())), true, 'a manual run starts');
select results_eq(
  $$select run_id, retry_after_ms from start_scheduler_run('manual', p_now => tests.wednesday_noon() + interval '4 seconds')$$,
  $$values (null::bigint, 6000)$$,
  'a second manual run 4 seconds later is refused, with the time to wait, and writes no row'
);
select is((select count(*)::integer from scheduler_runs where trigger = 'manual'), 1, 'only one manual run row exists');

select * from finish();
rollback;
