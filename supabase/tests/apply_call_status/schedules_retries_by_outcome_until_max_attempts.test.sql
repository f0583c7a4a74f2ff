-- Busy / no answer / failed schedule the next attempt after the campaign's delay for that outcome,
-- from the call's end; an outcome whose rule says no ends the contact (exhausted, saying why); at
-- max_attempts the contact is exhausted; completed ends it as done; canceled counts as failed.
begin;
\ir ../_helpers.psql
select plan(10);

select tests.create_campaign(max_attempts => 3,
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
update campaigns set retry_busy_delay = '10 minutes', retry_no_answer_delay = '2 hours', retry_failed_delay = '30 minutes'
 where id = :campaign_id;
select tests.add_contacts(:campaign_id, 1) as contact_id \gset

select tests.dial(:contact_id, tests.wednesday_noon()) as call_1 \gset
select apply_call_status(:call_1, 'twilio', 'CA-1', 'busy', p_now => tests.wednesday_noon() + interval '10 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at, last_call_status, last_error from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, 1, tests.wednesday_noon() + interval '10 seconds' + interval '10 minutes', 'busy'::call_status, 'call ended busy')$$,
  'busy: retried retry_busy_delay (10 minutes) after the call ended'
);

select tests.dial(:contact_id, tests.wednesday_noon() + interval '1 hour') as call_2 \gset
select apply_call_status(:call_2, 'twilio', 'CA-2', 'no_answer', p_now => tests.wednesday_noon() + interval '1 hour 30 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, 2, tests.wednesday_noon() + interval '1 hour 30 seconds' + interval '2 hours')$$,
  'no answer: retried retry_no_answer_delay (2 hours) after the call ended, whatever the attempt number'
);
select is(tests.launch(tests.wednesday_noon() + interval '3 hours 29 seconds'), 0, 'not a second before the delay');

select tests.dial(:contact_id, tests.wednesday_noon() + interval '5 hours') as call_3 \gset
select is((select attempt from calls where id = :call_3), 3, 'the third call is attempt 3');
select apply_call_status(:call_3, 'twilio', 'CA-3', 'failed', p_now => tests.wednesday_noon() + interval '5 hours 5 seconds');
select results_eq(
  format('select status, attempts, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('exhausted'::contact_status, 3, tests.wednesday_noon() + interval '1 hour 30 seconds' + interval '2 hours')$$,
  'failed at attempt 3 of 3: exhausted, no new next_attempt_at'
);

-- A rule that says no: the contact ends at once, attempts left or not.
select tests.create_campaign(name => 'no busy retry', max_attempts => 5,
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as strict_id \gset
update campaigns set retry_busy = false where id = :strict_id;
select tests.add_contacts(:strict_id, 1) as strict_contact \gset
select tests.dial(:strict_contact, tests.wednesday_noon() + interval '6 hours') as strict_call \gset
select apply_call_status(:strict_call, 'twilio', 'CA-4', 'busy', p_now => tests.wednesday_noon() + interval '6 hours');
select results_eq(
  format('select status, attempts, last_error from contacts where id = %s', :strict_contact),
  $$values ('exhausted'::contact_status, 1, 'call ended busy: not retried (the campaign''s rule for busy)')$$,
  'busy with retry_busy false: exhausted after attempt 1 of 5, saying why'
);

-- Completed ends the contact whatever attempts remain; canceled by the provider counts as failed.
select tests.create_campaign(name => 'others',
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as others_id \gset
update campaigns set retry_failed_delay = '45 minutes' where id = :others_id;
select tests.add_contacts(:others_id, 1) as lucky \gset
select tests.dial(:lucky, tests.wednesday_noon() + interval '7 hours') as lucky_call \gset
select apply_call_status(:lucky_call, 'twilio', 'CA-5', 'completed', 12, p_now => tests.wednesday_noon() + interval '7 hours');
select is((select status from contacts where id = :lucky), 'done'::contact_status, 'completed at attempt 1 ends the contact as done');

select tests.add_contacts(:others_id, 1) as hung_up \gset
select tests.dial(:hung_up, tests.wednesday_noon() + interval '8 hours') as hung_up_call \gset
select apply_call_status(:hung_up_call, 'twilio', 'CA-6', 'canceled', p_now => tests.wednesday_noon() + interval '8 hours');
select results_eq(
  format('select status, next_attempt_at from contacts where id = %s', :hung_up),
  $$values ('pending'::contact_status, tests.wednesday_noon() + interval '8 hours 45 minutes')$$,
  'a call the provider reports canceled is retried after retry_failed_delay'
);
update campaigns set retry_failed = false where id = :others_id;
select tests.add_contacts(:others_id, 1) as failed_once \gset
select tests.dial(:failed_once, tests.wednesday_noon() + interval '8 hours 20 minutes') as failed_call \gset
select apply_call_status(:failed_call, 'twilio', 'CA-7', 'failed', p_now => tests.wednesday_noon() + interval '8 hours 21 minutes');
select is((select status from contacts where id = :failed_once), 'exhausted'::contact_status,
          'failed with retry_failed false: not retried');
select is((select count(*)::integer from calls where contact_id = :contact_id), 3, 'the first contact was called exactly 3 times');

select * from finish();
rollback;
