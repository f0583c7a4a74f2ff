-- The clock is passed in (p_now), so a tick for a chosen instant must behave like any other tick:
-- its own housekeeping must not take its own, just-started run for an abandoned one.
-- (run_cron_tick() stamps started_at with clock_timestamp() but runs fail_abandoned_runs(p_now):
-- with p_now more than abandoned_run_timeout ahead of the wall clock, the run fails itself.)
begin;
\ir ../_helpers.psql
select plan(3);
-- This test runs on the wall clock: the calling-hours rules (US federal 08:00-21:00 UTC here)
-- would make its outcome depend on the hour it runs at.
update calling_hours_rules set enabled = false;

select tests.create_campaign(window_start => '00:00', window_end => '24:00', window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1, next_attempt_at => now());

select is(run_cron_tick(now() + interval '1 hour') ->> 'status', 'ok', 'a tick for an instant an hour ahead reports ok');
select results_eq(
  $$select status, jsonb_array_length(errors), calls_reserved from scheduler_runs$$,
  $$values ('ok'::scheduler_run_status, 0, 1)$$,
  'its run row is ok, without an "abandoned" error, and counts its call'
);
select is((select scheduled_for from scheduler_runs), date_trunc('minute', now() + interval '1 hour'),
          'it is recorded for the minute of p_now');

select * from finish();
rollback;
