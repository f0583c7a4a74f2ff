-- Invariant 3, attempts: a contact is retried after busy / no answer only while it has attempts
-- left, never more than its campaign's max_attempts, and an exhausted contact ends the campaign.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(max_attempts => 2, retry_delay => '1 hour') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset

select tests.dial(:contact_id, tests.wednesday_noon()) as first_call \gset
select is((select attempts from contacts where id = :contact_id), 1, 'the first call sent counts attempt 1');
select apply_call_status(:first_call, 'twilio', 'CA1', 'busy', p_now => tests.wednesday_noon() + interval '1 minute');

select is(tests.launch(tests.wednesday_noon() + interval '30 minutes'), 0, 'no second call before the retry delay');
select tests.dial(:contact_id, tests.wednesday_noon() + interval '61 minutes') as second_call \gset
select isnt(:second_call, :first_call, 'after the retry delay a second call is reserved and dialled');
select is((select attempt from calls where id = :second_call), 2, 'it is attempt 2');
select apply_call_status(:second_call, 'twilio', 'CA2', 'no_answer', p_now => tests.wednesday_noon() + interval '62 minutes');

select is((select status from contacts where id = :contact_id), 'exhausted'::contact_status,
          'after max_attempts (2) unanswered calls the contact is exhausted');
select is(tests.launch(tests.wednesday_noon() + interval '1 day'), 0, 'an exhausted contact is never reserved again');
select is((select count(*)::integer from calls where contact_id = :contact_id), 2, 'it was called exactly max_attempts times');
select is((select status from campaigns where id = :campaign_id), 'COMPLETED'::campaign_status,
          'with its only contact exhausted the campaign is COMPLETED');

-- A pending contact that already used every attempt (max_attempts lowered by an operator).
select tests.create_campaign(max_attempts => 3) as lowered_id \gset
select tests.add_contacts(:lowered_id, 1) as tired_id \gset
update contacts set attempts = 3 where id = :tired_id;
select is(tests.launch(tests.wednesday_noon() + interval '1 day 1 minute'), 0,
          'a pending contact with attempts = max_attempts is not reserved');

select * from finish();
rollback;
