-- Invariant 6, the reaper: a call stuck in dialing or unknown longer than stuck_call_timeout
-- (15 minutes), or ringing / in progress longer than max_call_duration (4 hours), becomes failed:
-- its slot is freed, the attempt counts, and the contact is retried if attempts remain.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(cap => 10, max_attempts => 2, retry_delay => '1 hour') as campaign_id \gset
select array_agg(id order by id) as contacts from tests.add_contacts(:campaign_id, 4) id \gset
select tests.dial((:'contacts'::bigint[])[1], tests.wednesday_noon());
select array_agg(id order by id) as calls from calls \gset
select (:'calls'::bigint[])[1] as dialing_call, (:'calls'::bigint[])[2] as unknown_call,
       (:'calls'::bigint[])[3] as ringing_call, (:'calls'::bigint[])[4] as last_try_call \gset
select record_dispatch_result(:unknown_call, 'unknown', p_reason => 'timeout', p_now => tests.wednesday_noon());
select apply_call_status(:ringing_call, 'twilio', 'CA-3', 'ringing', p_now => tests.wednesday_noon() + interval '5 seconds');
update contacts set attempts = 2 where id = (:'contacts'::bigint[])[4];  -- its call is the last attempt

select is(expire_stuck_calls(tests.wednesday_noon() + interval '14 minutes'), 0, 'nothing is stuck after 14 minutes');
select is(expire_stuck_calls(tests.wednesday_noon() + interval '16 minutes'), 3,
          'after 16 minutes the dialing, unknown and last-attempt calls expire');
select results_eq(
  format('select status, ended_at, error from calls where id = %s', :unknown_call),
  $$values ('failed'::call_status, tests.wednesday_noon() + interval '16 minutes',
            'expired: no final status from the provider after 00:15:00')$$,
  'an expired call is failed, ended at p_now, with the reason'
);
select is((select status from calls where id = :ringing_call), 'ringing'::call_status,
          'a ringing call is not stuck after 16 minutes: calls may last');
select is(tests.active_calls(:campaign_id), 1, 'expired calls free their slots');
select results_eq(
  format('select status, attempts, next_attempt_at, last_error from contacts where id = %s', (:'contacts'::bigint[])[1]),
  $$values ('pending'::contact_status, 1, tests.wednesday_noon() + interval '16 minutes' + interval '1 hour', 'call expired without a final status')$$,
  'the attempt counts and the contact is retried after the retry delay'
);
select is((select status from contacts where id = (:'contacts'::bigint[])[4]), 'exhausted'::contact_status,
          'a contact whose last attempt expired is exhausted');

select is(expire_stuck_calls(tests.wednesday_noon() + interval '4 hours 1 minute'), 1,
          'a call ringing for longer than max_call_duration expires too');
select is(apply_call_status(:unknown_call, 'twilio', 'CA-2', 'completed', p_now => tests.wednesday_noon() + interval '5 hours'),
          'ignored', 'a callback arriving after the reaper is ignored');

select * from finish();
rollback;
