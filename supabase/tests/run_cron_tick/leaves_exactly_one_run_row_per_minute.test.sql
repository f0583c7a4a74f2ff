-- Invariant 5 for the pg_cron tick: every run_cron_tick() leaves exactly one scheduler_runs row;
-- a second tick for the same minute is recorded as duplicate and does no work.
-- run_cron_tick() stamps its row with the wall clock, so this file uses now() (the transaction's
-- start) as p_now and a campaign whose window is always open.
begin;
\ir ../_helpers.psql
select plan(9);
-- This test runs on the wall clock: the calling-hours rules (US federal 08:00-21:00 UTC here)
-- would make its outcome depend on the hour it runs at.
update calling_hours_rules set enabled = false;

select tests.create_campaign(cap => 10, window_start => '00:00', window_end => '24:00', window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 3, next_attempt_at => now() - interval '1 minute');

create temp table first_tick on commit drop as select run_cron_tick(now()) as result;

select is((select result ->> 'status' from first_tick), 'ok', 'the tick reports ok');
select is((select (result ->> 'calls_reserved')::integer from first_tick), 3, 'and the calls it reserved');
select is((select count(*)::integer from scheduler_runs), 1, 'it leaves exactly one run row');
select results_eq(
  $$select trigger, scheduled_for, status, calls_reserved, campaigns_processed, finished_at is not null, jsonb_array_length(errors)
      from scheduler_runs$$,
  $$values ('pg_cron'::scheduler_trigger, date_trunc('minute', now()), 'ok'::scheduler_run_status, 3, 1, true, 0)$$,
  'the row: trigger pg_cron, the scheduled minute, ok, the counts, finished, no errors'
);
select is((select (result ->> 'run_id')::bigint from first_tick), (select max(id) from scheduler_runs),
          'the tick returns its run id');
select ok((select bool_and(run_id = (select id from scheduler_runs)) from calls), 'the calls it reserved carry the run id');

select tests.add_contacts(:campaign_id, 1, next_attempt_at => now() - interval '1 minute');
create temp table second_tick on commit drop as select run_cron_tick(now()) as result;
select is((select result ->> 'status' from second_tick), 'duplicate', 'a second tick in the same minute is a duplicate');
select results_eq(
  'select status, count(*)::integer from scheduler_runs group by status order by status',
  $$values ('ok'::scheduler_run_status, 1), ('duplicate', 1)$$,
  'it too leaves exactly one row, recorded as duplicate'
);
select is((select count(*)::integer from calls), 3, 'and it did no work: the new contact waits for the next minute');

select * from finish();
rollback;
