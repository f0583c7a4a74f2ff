-- set_scheduler_paused(): while the whole scheduler is paused, reserve_due_calls() reserves nothing
-- (outcome paused, housekeeping not run), claim_queued_calls() claims nothing (queued calls stay
-- queued), run_cron_tick() records a skipped run, and a status callback is still applied; after the
-- resume the same calls are claimed and the waiting contacts reserved.
begin;
\ir ../_helpers.psql
select plan(16);

select tests.create_campaign(cap => 5) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 4);
select tests.launch(tests.wednesday_noon());
select run_id from start_scheduler_run('vercel', tests.wednesday_noon(), p_now => tests.wednesday_noon()) \gset
-- One call on its way before the pause (dialing), the others queued.
select call_id as dialing_call from claim_queued_calls(1, :run_id, tests.wednesday_noon() + interval '5 seconds') \gset
select count(*)::integer as queued_before from calls where status = 'queued' \gset

select results_eq(
  $$select paused_at, paused_reason from set_scheduler_paused(true, '  upgrade to 1.1.0 ', tests.wednesday_noon() + interval '10 seconds')$$,
  $$values (tests.wednesday_noon() + interval '10 seconds', 'upgrade to 1.1.0')$$,
  'pausing answers when and why (the reason trimmed)'
);
select ok(scheduler_paused(), 'scheduler_paused() says so');
select results_eq(
  $$select paused_at, paused_reason from set_scheduler_paused(true, 'still upgrading', tests.wednesday_noon() + interval '20 seconds')$$,
  $$values (tests.wednesday_noon() + interval '10 seconds', 'still upgrading')$$,
  'pausing again keeps the first paused_at and takes the new reason'
);

select count(*) from tests.add_contacts(:campaign_id, 2);
select results_eq(
  $$select outcome::text, calls_reserved, calls_released, calls_expired from reserve_due_calls(null, tests.wednesday_noon() + interval '30 minutes')$$,
  $$values ('paused', 0, 0, 0)$$,
  'reserve_due_calls() reserves nothing and runs no housekeeping while paused'
);
select is((select count(*)::integer from contacts where campaign_id = :campaign_id and status = 'pending'), 2,
          'the new contacts stay pending');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '31 seconds')), 0,
          'claim_queued_calls() claims nothing while paused');
select is((select count(*)::integer from calls where status = 'queued'), :queued_before,
          'the queued calls stay queued (none released, none expired)');
select is((run_cron_tick(tests.wednesday_noon() + interval '1 minute')) ->> 'status', 'skipped',
          'the pg_cron tick records a skipped run');
select is((select calls_reserved from scheduler_runs where trigger = 'pg_cron'), 0, 'and reserved nothing');

-- A status callback of the call already on its way is applied as always.
select is(apply_call_status(:dialing_call, 'twilio', 'CA-paused', 'completed', 30, p_now => tests.wednesday_noon() + interval '40 seconds'),
          'applied', 'a status callback is applied while paused');
select is((select status from calls where id = :dialing_call), 'completed'::call_status, 'the call is completed');

select results_eq(
  $$select paused_at, paused_reason from set_scheduler_paused(false, null, tests.wednesday_noon() + interval '2 minutes')$$,
  $$values (null::timestamptz, null::text)$$,
  'resuming clears paused_at and the reason'
);
select ok(not scheduler_paused(), 'scheduler_paused() is false again');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '2 minutes 1 second')),
          :queued_before, 'after the resume the queued calls are claimed');
select ok((select calls_reserved from reserve_due_calls(null, tests.wednesday_noon() + interval '2 minutes 2 seconds')) = 2,
          'and the waiting contacts are reserved');

select throws_ok(
  $$select * from set_scheduler_paused(true, repeat('x', 501))$$,
  '22023',
  'the reason must be 1 to 500 characters',
  'a reason over 500 characters is refused'
);

select * from finish();
rollback;
