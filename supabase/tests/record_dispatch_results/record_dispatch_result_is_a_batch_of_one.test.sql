-- record_dispatch_result() (one answer) is record_dispatch_results() with a batch of one: the same
-- status afterwards, the same refusals, and the breaker left alone.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select is(record_dispatch_result(:call_id, 'accepted', 'CA-1', p_now => tests.wednesday_noon() + interval '1 second'),
          'dialing'::call_status, 'accepted: the call stays dialing');
select results_eq(
  format('select provider_call_id, provider_accepted_at from calls where id = %s', :call_id),
  $$values ('CA-1', tests.wednesday_noon() + interval '1 second')$$,
  'with the provider''s id and the time it was accepted'
);
select is(record_dispatch_result(:call_id, 'accepted', 'CA-1', p_now => tests.wednesday_noon() + interval '2 seconds'),
          'dialing'::call_status, 'the same answer twice changes nothing');
select is((select count(*)::integer from provider_circuit_breakers), 0, 'the breaker is left alone');

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
