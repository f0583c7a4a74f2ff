-- A status callback can overtake the create-call response. Whatever the response says afterwards
-- (accepted, retryable, permanent, unknown), the call keeps what the callback told us.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset
select apply_call_status(:call_id, 'twilio', 'CA-1', 'ringing', p_now => tests.wednesday_noon() + interval '1 second');

select is(record_dispatch_result(:call_id, 'retryable', p_reason => '503', p_now => tests.wednesday_noon() + interval '2 seconds'),
          'ringing'::call_status, 'retryable after a ringing callback: still ringing, not requeued');
select is((select attempts from contacts where id = :contact_id), 1, 'and the attempt is not given back');
select is(record_dispatch_result(:call_id, 'permanent', p_reason => 'refused', p_now => tests.wednesday_noon() + interval '3 seconds'),
          'ringing'::call_status, 'permanent after a ringing callback: still ringing, not failed');
select is(record_dispatch_result(:call_id, 'unknown', p_now => tests.wednesday_noon() + interval '4 seconds'),
          'ringing'::call_status, 'unknown after a ringing callback: still ringing');
select is(record_dispatch_result(:call_id, 'accepted', 'CA-1', p_now => tests.wednesday_noon() + interval '5 seconds'),
          'ringing'::call_status, 'accepted after a ringing callback: still ringing');
select results_eq(
  format('select status, error, ended_at from calls where id = %s', :call_id),
  $$values ('ringing'::call_status, null::text, null::timestamptz)$$,
  'no late response left an error or an end time behind'
);

select * from finish();
rollback;
