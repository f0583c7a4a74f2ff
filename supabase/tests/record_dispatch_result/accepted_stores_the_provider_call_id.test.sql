-- 'accepted': the provider created the call. Its id is stored (so callbacks can find the call) and
-- the status only ever moves forward.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select is(record_dispatch_result(:call_id, 'accepted', 'CA-1', p_now => tests.wednesday_noon() + interval '1 second'),
          'dialing'::call_status, 'an accepted call stays dialing until the provider reports progress');
select results_eq(
  format('select provider_call_id, provider_accepted_at from calls where id = %s', :call_id),
  $$values ('CA-1', tests.wednesday_noon() + interval '1 second')$$,
  'the provider''s call id and the acceptance time are stored'
);
select is(record_dispatch_result(:call_id, 'accepted', 'CA-other', 'ringing', p_now => tests.wednesday_noon() + interval '2 seconds'),
          'ringing'::call_status, 'a status the provider reports with its answer moves the call forward');
select is((select provider_call_id from calls where id = :call_id), 'CA-1',
          'a repeated acceptance never overwrites the provider call id');

-- A callback (in progress) arrives before the create-call response: the response cannot move it back.
select tests.add_contacts(:campaign_id, 1) as fast_contact \gset
select tests.dial(:fast_contact, tests.wednesday_noon() + interval '1 minute') as fast_call \gset
select apply_call_status(:fast_call, 'twilio', 'CA-2', 'in_progress', p_now => tests.wednesday_noon() + interval '62 seconds');
select is(record_dispatch_result(:fast_call, 'accepted', 'CA-2', p_now => tests.wednesday_noon() + interval '63 seconds'),
          'in_progress'::call_status, 'accepted after an in_progress callback leaves the call in_progress');
select apply_call_status(:fast_call, 'twilio', 'CA-2', 'completed', 30, p_now => tests.wednesday_noon() + interval '90 seconds');
select is(record_dispatch_result(:fast_call, 'accepted', 'CA-2', p_now => tests.wednesday_noon() + interval '91 seconds'),
          'completed'::call_status, 'accepted after the final callback leaves the call completed');

select throws_ok(
  format($$select record_dispatch_result(%s, 'accepted')$$, :call_id),
  '22023', 'accepted outcome needs a provider call id',
  'accepted without a provider call id is refused'
);
select throws_ok(
  format($$select record_dispatch_result(%s, 'maybe')$$, :call_id),
  '22023', 'unknown dispatch outcome: maybe',
  'an outcome other than accepted / retryable / permanent / unknown is refused'
);
select throws_ok(
  $$select record_dispatch_result(424242, 'unknown')$$,
  'P0002', 'call 424242 does not exist',
  'an unknown call id is refused'
);

select * from finish();
rollback;
