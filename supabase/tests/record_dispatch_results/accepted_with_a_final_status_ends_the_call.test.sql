-- The provider's answer to a create-call request may already carry a final status (a call that
-- failed or was canceled at once). In a batch, as with record_dispatch_result(), 'accepted' must
-- then end the call like the matching callback would: ended_at set, the slot freed, the contact
-- settled; the other answers of the batch are recorded as usual.
begin;
\ir ../_helpers.psql
select plan(5);

select tests.create_campaign(cap => 2, retry_delay => '1 hour') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.add_contacts(:campaign_id, 1) as other_contact \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset
select tests.last_call_of(:other_contact) as other_call \gset

select results_eq(
  format($$select call_id, status from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'accepted', 'CA-1', 'failed'), tests.answer(%s, 'accepted', 'CA-2'))$$,
         :call_id, :other_call),
  format($$values (%s::bigint, 'failed'::call_status), (%s::bigint, 'dialing'::call_status)$$, :call_id, :other_call),
  'accepted with a final status does not raise, and ends the call; the other answer is recorded'
);
select results_eq(
  format('select status, provider_call_id, ended_at from calls where id = %s', :call_id),
  $$values ('failed'::call_status, 'CA-1', tests.wednesday_noon())$$,
  'the call is failed, with its provider call id, ended at p_now'
);
select is(tests.active_calls(:campaign_id), 1, 'its slot is free (the other call holds one)');
select results_eq(
  format('select status, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, tests.wednesday_noon() + interval '1 hour')$$,
  'the contact is settled: retried after the retry delay'
);
select results_eq(
  format('select status, provider_call_id from calls where id = %s', :other_call),
  $$values ('dialing'::call_status, 'CA-2')$$,
  'the other call of the batch is accepted'
);

select * from finish();
rollback;
