-- "Partial failure -> Others continue" in the run log: a malformed campaign makes the run partial,
-- with the campaign in its errors, while the other campaigns' calls are reserved.
begin;
\ir ../_helpers.psql
select plan(3);
-- This test runs on the wall clock: the calling-hours rules (US federal 08:00-21:00 UTC here)
-- would make its outcome depend on the hour it runs at.
update calling_hours_rules set enabled = false;

select tests.create_campaign(name => 'no caller id', caller_id => null, window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as broken_id \gset
select tests.create_campaign(name => 'fine', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as fine_id \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 2, next_attempt_at => now() - interval '1 minute');

select is(run_cron_tick(now()) ->> 'status', 'partial', 'the tick is partial');
select results_eq(
  $$select status, calls_reserved, campaigns_processed, errors from scheduler_runs$$,
  format($$values ('partial'::scheduler_run_status, 2, 2,
                   '[{"stage": "reserve", "campaign_id": %s, "message": "malformed campaign: caller_id is not set"}]'::jsonb)$$, :broken_id),
  'the run row names the malformed campaign; the other campaign''s 2 calls are reserved'
);
select is((select count(*)::integer from calls where campaign_id = :fine_id), 2, 'the good campaign was served');

select * from finish();
rollback;
