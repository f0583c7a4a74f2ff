-- A batch is all or nothing. An answer record_dispatch_result() would refuse (an unknown outcome,
-- a call that does not exist, accepted without the provider's call id) refuses the whole batch
-- with the same error: nothing of it is recorded, neither the calls nor the breaker. The calls stay
-- in dialing: never re-sent; their callbacks or the reaper settle them.
begin;
\ir ../_helpers.psql
select plan(14);

select tests.create_campaign(cap => 2) as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_a \gset
select tests.add_contacts(:campaign_id, 1) as contact_b \gset
select tests.dial(:contact_a, tests.wednesday_noon()) as call_a \gset
select tests.last_call_of(:contact_b) as call_b \gset

select throws_ok(
  format($$select * from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'accepted', 'CA-A', breaker_success => true), tests.answer(%s, 'maybe', breaker_success => false))$$,
         :call_a, :call_b),
  '22023', 'unknown dispatch outcome: maybe',
  'an outcome other than accepted / retryable / permanent / unknown refuses the batch'
);
select throws_ok(
  format($$select * from record_dispatch_results('twilio', jsonb_build_array(jsonb_build_object('call_id', %s)))$$, :call_a),
  '22023', 'unknown dispatch outcome: <NULL>',
  'so does an answer without an outcome'
);
select throws_ok(
  format($$select * from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'unknown', breaker_success => false), tests.answer(424242, 'unknown'))$$, :call_a),
  'P0002', 'call 424242 does not exist',
  'a call that does not exist refuses the batch'
);
select throws_ok(
  format($$select * from tests.record_batch(tests.wednesday_noon(),
             tests.answer(%s, 'permanent', reason => 'refused'), tests.answer(%s, 'accepted'))$$, :call_a, :call_b),
  '22023', 'accepted outcome needs a provider call id',
  'accepted without a provider call id refuses the batch'
);
select throws_ok(
  $$select * from record_dispatch_results('twilio', '{"call_id": 1, "outcome": "unknown"}')$$,
  '22023', 'p_results must be a JSON array of dispatch results',
  'the answers come as a JSON array'
);
select throws_ok(
  $$select * from record_dispatch_results('twilio', null)$$,
  '22023', 'p_results must be a JSON array of dispatch results',
  'not as null'
);

select results_eq(
  'select status, provider_call_id, error from calls order by id',
  $$values ('dialing'::call_status, null::text, null::text), ('dialing', null, null)$$,
  'after the refused batches both calls are still dialing, nothing recorded'
);
select results_eq(
  'select status, attempts from contacts order by id',
  $$values ('in_progress'::contact_status, 1), ('in_progress', 1)$$,
  'their contacts untouched'
);
select is((select count(*)::integer from provider_circuit_breakers), 0, 'and nothing reached the breaker');
select is((select count(*)::integer from record_dispatch_results('twilio', '[]')), 0, 'an empty batch records nothing');
select is((select count(*)::integer from tests.record_batch(tests.wednesday_noon(), tests.answer(:call_a, 'accepted', 'CA-A'))),
          1, 'a good batch is recorded');

select ok(has_function_privilege('service_role', 'public.record_dispatch_results(text, jsonb, timestamptz)', 'execute'),
          'the functions (service_role) may record answers');
select ok(not has_function_privilege('anon', 'public.record_dispatch_results(text, jsonb, timestamptz)', 'execute'),
          'anon may not');
select ok(not has_function_privilege('authenticated', 'public.record_dispatch_results(text, jsonb, timestamptz)', 'execute'),
          'authenticated may not');

select * from finish();
rollback;
