-- A callback names our call id and/or the provider's call id. Neither known: not_found. Both given
-- but disagreeing: mismatch, nothing changes. A callback for a call released before dialling is
-- ignored.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset
select record_dispatch_result(:call_id, 'accepted', 'CA-ours', p_now => tests.wednesday_noon());

select is(apply_call_status(424242, 'twilio', 'CA-ours', 'ringing'), 'not_found', 'an unknown call id: not_found');
select is(apply_call_status(null, 'twilio', 'CA-nobody', 'ringing'), 'not_found', 'an unknown provider call id: not_found');
select is(apply_call_status(:call_id, 'twilio', 'CA-someone-else', 'completed', p_now => tests.wednesday_noon() + interval '1 minute'),
          'mismatch', 'our id with somebody else''s provider call id: mismatch');
select is((select status from calls where id = :call_id), 'dialing'::call_status, 'a mismatched callback changes nothing');

-- A call released before it was ever dialled.
select tests.add_contacts(:campaign_id, 1) as released_contact \gset
select tests.launch(tests.wednesday_noon() + interval '1 minute');
select tests.last_call_of(:released_contact) as released_call \gset
update campaigns set status = 'PAUSED' where id = :campaign_id;
select release_stale_queued_calls(tests.wednesday_noon() + interval '2 minutes');
select is(apply_call_status(:released_call, 'twilio', 'CA-ghost', 'ringing', p_now => tests.wednesday_noon() + interval '3 minutes'),
          'ignored', 'a callback for a released call is ignored');
select results_eq(
  format('select status, provider_call_id from calls where id = %s', :released_call),
  $$values ('canceled'::call_status, null::text)$$,
  'the released call stays canceled and takes no provider id'
);

select * from finish();
rollback;
