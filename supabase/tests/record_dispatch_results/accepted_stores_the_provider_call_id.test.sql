-- record_dispatch_results(), 'accepted': each answer of a batch means what it means to
-- record_dispatch_result(). The provider's id is stored (so callbacks can find the call) and the
-- status only ever moves forward, also when one batch names the same call twice.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select results_eq(
  format($$select call_id, status, breaker_state from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'accepted', 'CA-1', at => tests.wednesday_noon() + interval '1 second', breaker_success => true))$$,
         :call_id),
  format($$values (%s::bigint, 'dialing'::call_status, 'closed')$$, :call_id),
  'an accepted call stays dialing until the provider reports progress (and the breaker hears of a success)'
);
select results_eq(
  format('select provider_call_id, provider_accepted_at from calls where id = %s', :call_id),
  $$values ('CA-1', tests.wednesday_noon() + interval '1 second')$$,
  'the provider''s call id and the acceptance time (the answer''s own time) are stored'
);
select tests.record_batch(tests.wednesday_noon(), tests.answer(:call_id, 'accepted', 'CA-other'));
select results_eq(
  format('select provider_call_id, provider_accepted_at from calls where id = %s', :call_id),
  $$values ('CA-1', tests.wednesday_noon() + interval '1 second')$$,
  'a repeated acceptance overwrites neither the provider call id nor the acceptance time'
);
select results_eq(
  format($$select call_id, status from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%1$s, 'accepted', 'CA-other', at => tests.wednesday_noon() + interval '2 seconds'),
             tests.answer(%1$s, 'accepted', 'CA-other', 'ringing', at => tests.wednesday_noon() + interval '2 seconds'))$$,
         :call_id),
  format($$values (%1$s::bigint, 'dialing'::call_status), (%1$s::bigint, 'ringing'::call_status)$$, :call_id),
  'one batch naming the call twice: each answer in turn; the one with progress moves the call forward'
);
select is((select provider_call_id from calls where id = :call_id), 'CA-1',
          'a repeated acceptance never overwrites the provider call id');

-- A callback (in progress) arrives before the create-call response: the response cannot move it back.
select tests.add_contacts(:campaign_id, 1) as fast_contact \gset
select tests.dial(:fast_contact, tests.wednesday_noon() + interval '1 minute') as fast_call \gset
select apply_call_status(:fast_call, 'twilio', 'CA-2', 'in_progress', p_now => tests.wednesday_noon() + interval '62 seconds');
select is((select status from tests.record_batch(tests.wednesday_noon() + interval '63 seconds', tests.answer(:fast_call, 'accepted', 'CA-2'))),
          'in_progress'::call_status, 'accepted after an in_progress callback leaves the call in_progress');
select is((select provider_accepted_at from calls where id = :fast_call), tests.wednesday_noon() + interval '63 seconds',
          'an answer without its own time is taken at the batch''s p_now');
select apply_call_status(:fast_call, 'twilio', 'CA-2', 'completed', 30, p_now => tests.wednesday_noon() + interval '90 seconds');
select is((select status from tests.record_batch(tests.wednesday_noon() + interval '91 seconds', tests.answer(:fast_call, 'accepted', 'CA-2'))),
          'completed'::call_status, 'accepted after the final callback leaves the call completed');
select results_eq(
  format('select status, provider_call_id, duration_seconds, ended_at from calls where id = %s', :fast_call),
  $$values ('completed'::call_status, 'CA-2', 30, tests.wednesday_noon() + interval '90 seconds')$$,
  'and changes nothing the callbacks recorded'
);

select * from finish();
rollback;
