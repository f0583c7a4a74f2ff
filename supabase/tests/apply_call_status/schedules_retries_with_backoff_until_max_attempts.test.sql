-- Busy / no answer / failed schedule the next attempt after retry_delay * retry_backoff^(attempts-1)
-- (at most 7 days); at max_attempts the contact is exhausted; completed ends it as done.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(max_attempts => 3, retry_delay => '1 hour', retry_backoff => 2,
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset

select tests.dial(:contact_id, tests.wednesday_noon()) as call_1 \gset
select apply_call_status(:call_1, 'twilio', 'CA-1', 'busy', p_now => tests.wednesday_noon() + interval '10 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at, last_call_status, last_error from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, 1, tests.wednesday_noon() + interval '10 seconds' + interval '1 hour', 'busy'::call_status, 'call ended busy')$$,
  'busy after attempt 1: retry after 1 hour (retry_delay * 2^0)'
);

select tests.dial(:contact_id, tests.wednesday_noon() + interval '2 hours') as call_2 \gset
select apply_call_status(:call_2, 'twilio', 'CA-2', 'no_answer', p_now => tests.wednesday_noon() + interval '2 hours 30 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, 2, tests.wednesday_noon() + interval '2 hours 30 seconds' + interval '2 hours')$$,
  'no answer after attempt 2: retry after 2 hours (retry_delay * 2^1)'
);
select is(tests.launch(tests.wednesday_noon() + interval '4 hours 29 seconds'), 0, 'not a second before the backoff');

select tests.dial(:contact_id, tests.wednesday_noon() + interval '5 hours') as call_3 \gset
select is((select attempt from calls where id = :call_3), 3, 'the third call is attempt 3');
select apply_call_status(:call_3, 'twilio', 'CA-3', 'failed', p_now => tests.wednesday_noon() + interval '5 hours 5 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('exhausted'::contact_status, 3, tests.wednesday_noon() + interval '2 hours 30 seconds' + interval '2 hours')$$,
  'failed at attempt 3 of 3: exhausted, no new next_attempt_at'
);

-- Backoff is capped at 7 days.
select tests.create_campaign(name => 'slow', max_attempts => 5, retry_delay => '5 days', retry_backoff => 2,
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as slow_id \gset
select tests.add_contacts(:slow_id, 1) as slow_contact \gset
update contacts set attempts = 1 where id = :slow_contact;
select tests.dial(:slow_contact, tests.wednesday_noon() + interval '6 hours') as slow_call \gset
select apply_call_status(:slow_call, 'twilio', 'CA-4', 'busy', p_now => tests.wednesday_noon() + interval '6 hours');
select is((select next_attempt_at from contacts where id = :slow_contact), tests.wednesday_noon() + interval '6 hours' + interval '7 days',
          'retry_delay 5 days * 2^1 = 10 days is capped at 7 days');

-- Completed ends the contact whatever attempts remain; canceled by the provider is retried.
select tests.create_campaign(name => 'others', retry_delay => '1 hour',
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as others_id \gset
select tests.add_contacts(:others_id, 1) as lucky \gset
select tests.dial(:lucky, tests.wednesday_noon() + interval '7 hours') as lucky_call \gset
select apply_call_status(:lucky_call, 'twilio', 'CA-5', 'completed', 12, p_now => tests.wednesday_noon() + interval '7 hours');
select is((select status from contacts where id = :lucky), 'done'::contact_status, 'completed at attempt 1 ends the contact as done');

select tests.add_contacts(:others_id, 1) as hung_up \gset
select tests.dial(:hung_up, tests.wednesday_noon() + interval '8 hours') as hung_up_call \gset
select apply_call_status(:hung_up_call, 'twilio', 'CA-6', 'canceled', p_now => tests.wednesday_noon() + interval '8 hours');
select results_eq(
  format('select status, next_attempt_at from contacts where id = %s', :hung_up),
  $$values ('pending'::contact_status, tests.wednesday_noon() + interval '9 hours')$$,
  'a call the provider reports canceled is retried after the delay'
);
select is((select count(*)::integer from calls where contact_id = :contact_id), 3, 'the first contact was called exactly 3 times');

select * from finish();
rollback;
