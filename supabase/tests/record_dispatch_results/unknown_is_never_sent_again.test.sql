-- Invariant 4, batched: when the outcome of a create-call request is unknown (timeout, connection
-- reset) the call goes to unknown. It keeps its slot, is never claimed or re-sent, and no second
-- call is reserved for the contact: double-dialling a person is worse than a missed attempt.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select is((select status from tests.record_batch(tests.wednesday_noon(),
             tests.answer(:call_id, 'unknown', reason => 'request timed out after 8000 ms', breaker_success => false))),
          'unknown'::call_status, 'an unknown outcome puts the call in unknown');
select is((select error from calls where id = :call_id), 'request timed out after 8000 ms', 'with the reason');
select is(tests.active_calls(:campaign_id), 1, 'it still holds its slot');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '1 minute')), 0,
          'it is never claimed again');
select is(tests.launch(tests.wednesday_noon() + interval '2 minutes'), 0, 'no other call is reserved for the contact');
select results_eq(
  format('select status, attempts from contacts where id = %s', :contact_id),
  $$values ('in_progress'::contact_status, 1)$$,
  'the contact stays in progress and the attempt counts (the call may well have rung)'
);

select * from finish();
rollback;
