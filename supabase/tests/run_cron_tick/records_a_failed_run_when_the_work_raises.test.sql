-- Invariant 5 and "Database error -> Handled gracefully": when the tick's work raises, run_cron_tick()
-- does not raise; the work is rolled back and the run row is still there, failed, with the error.
begin;
\ir ../_helpers.psql
select plan(6);
-- This test runs on the wall clock: the calling-hours rules (US federal 08:00-21:00 UTC here)
-- would make its outcome depend on the hour it runs at.
update calling_hours_rules set enabled = false;

select tests.create_campaign(window_start => '00:00', window_end => '24:00', window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 2, next_attempt_at => now() - interval '1 minute');

-- Any insert into calls now fails.
alter table public.calls add constraint tests_no_new_calls check (false) not valid;

select lives_ok($$select run_cron_tick(now())$$, 'run_cron_tick() does not raise when its work fails');
select results_eq(
  $$select status, finished_at is not null, calls_reserved from scheduler_runs$$,
  $$values ('failed'::scheduler_run_status, true, 0)$$,
  'exactly one run row is left, failed and finished, with nothing reserved'
);
select results_eq(
  $$select e ->> 'stage', e ->> 'sqlstate', e ->> 'message' from scheduler_runs, jsonb_array_elements(errors) e$$,
  $$values ('tick', '23514', 'new row for relation "calls" violates check constraint "tests_no_new_calls"')$$,
  'the error is recorded with its stage, SQLSTATE and message'
);
select is((select count(*)::integer from calls), 0, 'no call was created');
select is((select count(*)::integer from contacts where status = 'pending'), 2, 'the failed work is rolled back: contacts are still pending');

alter table public.calls drop constraint tests_no_new_calls;
select is(run_cron_tick(now() + interval '1 minute') ->> 'status', 'ok', 'the next minute''s tick works again');

select * from finish();
rollback;
