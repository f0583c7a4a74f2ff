-- 'retryable' in a batch (429, 503: the provider did not create the call): the call goes back to
-- queued, the attempt is given back, and it is not claimed again before the provider's retry time.
-- Unless a callback already proved the provider has the call: then it is never requeued.
begin;
\ir ../_helpers.psql
select plan(12);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select is(
  (select status from tests.record_batch(tests.wednesday_noon(),
     tests.answer(:call_id, 'retryable', reason => 'rate limited', error_code => '429',
                  retry_at => tests.wednesday_noon() + interval '30 seconds'))),
  'queued'::call_status,
  'a retryable outcome puts the call back in the queue'
);
select results_eq(
  format('select status, dialed_at, dispatch_run_id, dispatch_after, error, error_code from calls where id = %s', :call_id),
  $$values ('queued'::call_status, null::timestamptz, null::bigint, tests.wednesday_noon() + interval '30 seconds', 'rate limited', '429')$$,
  'it is undialled again, due at the provider''s retry time, with the reason kept'
);
select results_eq(
  format('select status, attempts from contacts where id = %s', :contact_id),
  $$values ('in_progress'::contact_status, 0)$$,
  'the contact keeps its slot and gets its attempt back'
);
select is(tests.active_calls(:campaign_id), 1, 'the call still holds its slot of the cap');
select is(tests.launch(tests.wednesday_noon() + interval '10 seconds'), 0, 'no second call is reserved for the contact');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '10 seconds')), 0,
          'it is not claimed before dispatch_after');
select results_eq(
  $$select call_id, attempt, release_reason from claim_queued_calls(10, null, tests.wednesday_noon() + interval '30 seconds')$$,
  format('values (%s::bigint, 1, null::text)', :call_id),
  'at dispatch_after the same call, same attempt, is claimed again'
);
select is((select attempts from contacts where id = :contact_id), 1, 'and counts its attempt once');

select tests.record_batch(tests.wednesday_noon() + interval '31 seconds',
                          tests.answer(:call_id, 'retryable', retry_at => tests.wednesday_noon() - interval '1 hour'));
select is((select dispatch_after from calls where id = :call_id), tests.wednesday_noon() + interval '31 seconds',
          'a retry time in the past means "now", never earlier');

-- The 'initiated' callback keeps the call dialing but stores the provider's id: the provider has
-- it. A 503 answer that arrives afterwards must not put it back in the queue (a double dial).
select tests.create_campaign(name => 'initiated first') as other_campaign \gset
select tests.add_contacts(:other_campaign, 1) as initiated_contact \gset
select tests.dial(:initiated_contact, tests.wednesday_noon() + interval '1 minute') as initiated_call \gset
select apply_call_status(:initiated_call, 'twilio', 'CA-9', 'dialing', p_now => tests.wednesday_noon() + interval '61 seconds');
select is(
  (select status from tests.record_batch(tests.wednesday_noon() + interval '62 seconds',
     tests.answer(:initiated_call, 'retryable', reason => 'Twilio 20503: Service Unavailable', error_code => '20503'))),
  'unknown'::call_status,
  'retryable for a call the provider has shown it has: unknown, not queued'
);
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '1 hour')
            where call_id = :initiated_call), 0,
          'it is never claimed again');
select results_eq(
  format('select ct.attempts, cl.provider_call_id, cl.error from contacts ct join calls cl on cl.contact_id = ct.id where cl.id = %s', :initiated_call),
  $$values (1, 'CA-9', 'Twilio 20503: Service Unavailable')$$,
  'its attempt counts and its callbacks can still find it'
);

select * from finish();
rollback;
