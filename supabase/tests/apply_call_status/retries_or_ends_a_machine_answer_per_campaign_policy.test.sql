-- AnsweredBy: stored on the call; a completed call answered by a machine is retried like
-- a no-answer under the default policy ('retry'), ends the contact under 'done' (message left); a
-- person, Twilio's 'unknown' and a value we do not know count as a person reached; an over-long
-- value is kept cut to 64 characters.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(max_attempts => 3, retry_delay => '1 hour',
                             window_start => '00:00', window_end => '23:59', window_days => '{1,2,3,4,5,6,7}') as retry_campaign \gset
select tests.create_campaign(max_attempts => 3, window_start => '00:00', window_end => '23:59',
                             window_days => '{1,2,3,4,5,6,7}') as done_campaign \gset
update campaigns set machine_answer_policy = 'done' where id = :done_campaign;
select tests.add_contacts(:retry_campaign, 1) as voicemail \gset
select tests.add_contacts(:retry_campaign, 1) as person \gset
select tests.add_contacts(:retry_campaign, 1) as undetermined \gset
select tests.add_contacts(:retry_campaign, 1) as strange \gset
select tests.add_contacts(:done_campaign, 1) as message_left \gset

select is((select machine_answer_policy from campaigns where id = :retry_campaign), 'retry', 'the default policy is retry');

-- AnsweredBy arrives with the answered callback; the completed one carries none.
select tests.dial(:voicemail, tests.wednesday_noon()) as call_1 \gset
select apply_call_status(:call_1, 'twilio', 'CA-1', 'in_progress', p_now => tests.wednesday_noon() + interval '5 seconds',
                         p_answered_by => 'machine_end_beep');
select apply_call_status(:call_1, 'twilio', 'CA-1', 'completed', 20, p_now => tests.wednesday_noon() + interval '30 seconds');
select results_eq(
  format('select c.status, c.attempts, c.next_attempt_at, c.last_error, cl.status, cl.answered_by
            from contacts c join calls cl on cl.contact_id = c.id where c.id = %s', :voicemail),
  $$values ('pending'::contact_status, 1, tests.wednesday_noon() + interval '30 seconds' + interval '1 hour',
            'answered by a machine (machine_end_beep): tried again later', 'completed'::call_status, 'machine_end_beep')$$,
  'retry policy: a machine answer leaves the call completed, the contact pending for its next attempt'
);

select tests.dial(:person, tests.wednesday_noon()) as call_2 \gset
select apply_call_status(:call_2, 'twilio', 'CA-2', 'completed', 20, p_now => tests.wednesday_noon() + interval '30 seconds',
                         p_answered_by => 'human');
select results_eq(format('select status from contacts where id = %s', :person), $$values ('done'::contact_status)$$,
  'a person: done');

select tests.dial(:undetermined, tests.wednesday_noon()) as call_3 \gset
select apply_call_status(:call_3, 'twilio', 'CA-3', 'completed', 20, p_now => tests.wednesday_noon() + interval '30 seconds',
                         p_answered_by => 'unknown');
select results_eq(format('select status from contacts where id = %s', :undetermined), $$values ('done'::contact_status)$$,
  'Twilio could not tell (unknown): counted as a person, done');

select tests.dial(:strange, tests.wednesday_noon()) as call_4 \gset
select is(apply_call_status(:call_4, 'twilio', 'CA-4', 'completed', 20, p_now => tests.wednesday_noon() + interval '30 seconds',
                            p_answered_by => '  robot_' || repeat('x', 100)), 'applied', 'a value we do not know is applied, not refused');
select is((select answered_by from calls where id = :call_4), left('robot_' || repeat('x', 100), 64), 'and kept as sent, cut to 64 characters');
select results_eq(format('select status from contacts where id = %s', :strange), $$values ('done'::contact_status)$$,
  'an unknown AnsweredBy counts as a person: done');

select tests.dial(:message_left, tests.wednesday_noon()) as call_5 \gset
select apply_call_status(:call_5, 'twilio', 'CA-5', 'completed', 20, p_now => tests.wednesday_noon() + interval '30 seconds',
                         p_answered_by => 'machine_end_silence');
select results_eq(format('select status from contacts where id = %s', :message_left), $$values ('done'::contact_status)$$,
  'done policy: a machine answer ends the contact (message left)');

select throws_ok(format('update campaigns set machine_answer_policy = %L where id = %s', 'sometimes', :done_campaign),
  '23514', null, 'an unknown policy is refused (campaigns_machine_answer_policy_is_known)');

select * from finish();
rollback;
