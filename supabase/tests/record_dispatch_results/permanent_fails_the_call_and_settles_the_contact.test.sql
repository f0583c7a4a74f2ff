-- 'permanent' in a batch (the provider refused these calls): each call fails and frees its slot.
-- An invalid number ends the contact as invalid; any other refusal schedules a retry like a failed call.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(cap => 2, retry_delay => '1 hour') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as bad_number \gset
select tests.add_contacts(:campaign_id, 1) as refused \gset
select tests.dial(:bad_number, tests.wednesday_noon()) as bad_call \gset
select tests.last_call_of(:refused) as refused_call \gset

select results_eq(
  format($$select call_id, status from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'permanent', reason => 'The number is not a valid phone number', error_code => '21211', invalid_number => true),
             tests.answer(%s, 'permanent', reason => 'caller id not verified', error_code => '21210'))$$,
         :bad_call, :refused_call),
  format($$values (%s::bigint, 'failed'::call_status), (%s::bigint, 'failed'::call_status)$$, :bad_call, :refused_call),
  'permanent refusals fail the calls'
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
