-- Invariant 4: a call whose create request timed out (unknown) is reconciled by the provider's
-- callbacks, which carry our call id: unknown -> ringing -> completed, without ever re-sending it.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset
select record_dispatch_result(:call_id, 'unknown', p_reason => 'request timed out', p_now => tests.wednesday_noon() + interval '8 seconds');

select is(apply_call_status(:call_id, 'twilio', 'CA-late', 'ringing', p_now => tests.wednesday_noon() + interval '9 seconds'),
          'applied', 'a ringing callback for an unknown call is applied');
select results_eq(
  format('select status, provider_call_id, error from calls where id = %s', :call_id),
  $$values ('ringing'::call_status, 'CA-late', null::text)$$,
  'the call learns its provider call id, and the timeout is no longer its error'
);
select is(apply_call_status(:call_id, 'twilio', 'CA-late', 'completed', 30, p_now => tests.wednesday_noon() + interval '45 seconds'),
          'applied', 'completed is applied');
select is((select status from contacts where id = :contact_id), 'done'::contact_status, 'the contact is done');
select is((select count(*)::integer from calls where contact_id = :contact_id), 1, 'the contact was called once');

-- A callback for a call we put back in the queue (a 429 that was not one): the provider did dial
-- it, so it counts as an attempt and the call is never dialled again.
select tests.add_contacts(:campaign_id, 1) as requeued_contact \gset
select tests.dial(:requeued_contact, tests.wednesday_noon() + interval '1 minute') as requeued_call \gset
select record_dispatch_result(:requeued_call, 'retryable', p_reason => '429', p_retry_at => tests.wednesday_noon() + interval '2 minutes',
                              p_now => tests.wednesday_noon() + interval '1 minute');
select apply_call_status(:requeued_call, 'twilio', 'CA-surprise', 'ringing', p_now => tests.wednesday_noon() + interval '70 seconds');
select results_eq(
  format($$select cl.status, ct.attempts, (select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '3 minutes'))
             from calls cl join contacts ct on ct.id = cl.contact_id where cl.id = %s$$, :requeued_call),
  $$values ('ringing'::call_status, 1, 0)$$,
  'a callback for a requeued call: ringing, the attempt counts, and it is not claimed again'
);

select * from finish();
rollback;
