-- Provider callbacks in order: dialing -> ringing -> in_progress -> completed. Each transition is
-- timestamped; the final status frees the campaign's slot and ends the contact as done.
begin;
\ir ../_helpers.psql
select plan(10);

select tests.create_campaign(cap => 1) as campaign_id \gset
select tests.add_contacts(:campaign_id, 2);
select tests.dial(min(id), tests.wednesday_noon()) as call_id from contacts \gset
select record_dispatch_result(:call_id, 'accepted', 'CA-1', p_now => tests.wednesday_noon());

select is(apply_call_status(:call_id, 'twilio', 'CA-1', 'ringing', p_now => tests.wednesday_noon() + interval '2 seconds'),
          'applied', 'ringing is applied');
select is(apply_call_status(:call_id, 'twilio', 'CA-1', 'in_progress', p_now => tests.wednesday_noon() + interval '10 seconds'),
          'applied', 'in_progress is applied');
select is(tests.launch(tests.wednesday_noon() + interval '20 seconds'), 0, 'while the call is in progress the cap of 1 is full');
select is(apply_call_status(:call_id, 'twilio', 'CA-1', 'completed', 95, p_now => tests.wednesday_noon() + interval '105 seconds'),
          'applied', 'completed is applied');

select results_eq(
  format('select status, ringing_at, answered_at, ended_at, duration_seconds from calls where id = %s', :call_id),
  $$values ('completed'::call_status, tests.wednesday_noon() + interval '2 seconds', tests.wednesday_noon() + interval '10 seconds',
            tests.wednesday_noon() + interval '105 seconds', 95)$$,
  'every transition is timestamped, with the duration the provider reported'
);
select results_eq(
  format('select ct.status, ct.last_call_status, ct.last_error, ct.attempts from contacts ct join calls cl on cl.contact_id = ct.id where cl.id = %s', :call_id),
  $$values ('done'::contact_status, 'completed'::call_status, null::text, 1)$$,
  'a completed call ends the contact as done'
);
select is(tests.active_calls(:campaign_id), 0, 'the final status frees the slot');
select is(tests.launch(tests.wednesday_noon() + interval '2 minutes'), 1, 'so the next contact is reserved');

select is(
  apply_call_status(null, 'twilio', 'CA-1', 'completed', p_now => tests.wednesday_noon() + interval '3 minutes'),
  'ignored',
  'a callback without our id finds the call by the provider call id'
);
select throws_ok(
  format($$select apply_call_status(%s, 'twilio', 'CA-1', 'queued')$$, :call_id),
  '22023', 'a status callback cannot set status queued',
  'a callback cannot put a call back in the queue'
);

select * from finish();
rollback;
