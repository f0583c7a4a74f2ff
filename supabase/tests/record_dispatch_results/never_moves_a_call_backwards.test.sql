-- A status callback can overtake the create-call response. Whatever the batched answers say
-- afterwards (accepted, retryable, permanent, unknown; one by one or all in one batch), the call
-- keeps what the callback told us.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset
select apply_call_status(:call_id, 'twilio', 'CA-1', 'ringing', p_now => tests.wednesday_noon() + interval '1 second');

select is((select status from tests.record_batch(tests.wednesday_noon() + interval '2 seconds', tests.answer(:call_id, 'retryable', reason => '503'))),
          'ringing'::call_status, 'retryable after a ringing callback: still ringing, not requeued');
select is((select attempts from contacts where id = :contact_id), 1, 'and the attempt is not given back');
select is((select status from tests.record_batch(tests.wednesday_noon() + interval '3 seconds', tests.answer(:call_id, 'permanent', reason => 'refused'))),
          'ringing'::call_status, 'permanent after a ringing callback: still ringing, not failed');
select is((select status from tests.record_batch(tests.wednesday_noon() + interval '4 seconds', tests.answer(:call_id, 'unknown'))),
          'ringing'::call_status, 'unknown after a ringing callback: still ringing');
select is((select status from tests.record_batch(tests.wednesday_noon() + interval '5 seconds', tests.answer(:call_id, 'accepted', 'CA-1'))),
          'ringing'::call_status, 'accepted after a ringing callback: still ringing');
select results_eq(
  format('select status, error, ended_at from calls where id = %s', :call_id),
  $$values ('ringing'::call_status, null::text, null::timestamptz)$$,
  'no late response left an error or an end time behind'
);

-- All four late answers in one batch, for a call already in progress.
select tests.add_contacts(:campaign_id, 1) as talking_contact \gset
select tests.dial(:talking_contact, tests.wednesday_noon() + interval '1 minute') as talking_call \gset
select apply_call_status(:talking_call, 'twilio', 'CA-2', 'in_progress', p_now => tests.wednesday_noon() + interval '61 seconds');
select results_eq(
  format($$select status from tests.record_batch(tests.wednesday_noon() + interval '62 seconds',
             tests.answer(%1$s, 'retryable', reason => '503'), tests.answer(%1$s, 'permanent', reason => 'refused'),
             tests.answer(%1$s, 'unknown', reason => 'timeout'), tests.answer(%1$s, 'accepted', 'CA-2'))$$,
         :talking_call),
  $$values ('in_progress'::call_status), ('in_progress'), ('in_progress'), ('in_progress')$$,
  'every late answer in one batch leaves the call in progress'
);
select results_eq(
  format('select status, error, ended_at, provider_call_id from calls where id = %s', :talking_call),
  $$values ('in_progress'::call_status, null::text, null::timestamptz, 'CA-2')$$,
  'with no error or end time'
);
select results_eq(
  format('select status, attempts from contacts where id = %s', :talking_contact),
  $$values ('in_progress'::contact_status, 1)$$,
  'and the contact untouched'
);

select * from finish();
rollback;
