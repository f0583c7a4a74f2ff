-- 'permanent' (the provider refused this call): the call fails and frees its slot. An invalid
-- number ends the contact as invalid; any other refusal schedules a retry like a failed call.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(cap => 2, retry_delay => '1 hour') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as bad_number \gset
select tests.add_contacts(:campaign_id, 1) as refused \gset
select tests.dial(:bad_number, tests.wednesday_noon()) as bad_call \gset
select tests.last_call_of(:refused) as refused_call \gset

select is(
  record_dispatch_result(:bad_call, 'permanent', p_reason => 'The number is not a valid phone number',
                         p_error_code => '21211', p_invalid_number => true, p_now => tests.wednesday_noon()),
  'failed'::call_status,
  'a permanent refusal fails the call'
);
select results_eq(
  format('select status, ended_at, error, error_code from calls where id = %s', :bad_call),
  $$values ('failed'::call_status, tests.wednesday_noon(), 'The number is not a valid phone number', '21211')$$,
  'with the provider''s reason and code'
);
select results_eq(
  format('select status, last_error from contacts where id = %s', :bad_number),
  $$values ('invalid'::contact_status, 'The number is not a valid phone number')$$,
  'an invalid number ends the contact as invalid, with the reason'
);

select record_dispatch_result(:refused_call, 'permanent', p_reason => 'caller id not verified', p_error_code => '21210',
                              p_now => tests.wednesday_noon());
select results_eq(
  format('select status, attempts, next_attempt_at, last_call_status from contacts where id = %s', :refused),
  $$values ('pending'::contact_status, 1, tests.wednesday_noon() + interval '1 hour', 'failed'::call_status)$$,
  'another refusal counts the attempt and schedules the next one after the retry delay'
);
select is(tests.active_calls(:campaign_id), 0, 'both slots are free');
select is(tests.launch(tests.wednesday_noon() + interval '1 minute'), 0,
          'neither contact is called again right away');
select is(tests.launch(tests.wednesday_noon() + interval '1 hour'), 1,
          'after the retry delay only the refused contact is called again, never the invalid number');

select * from finish();
rollback;
