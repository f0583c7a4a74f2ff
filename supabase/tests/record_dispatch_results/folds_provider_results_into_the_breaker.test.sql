-- The provider results a batch carries reach the circuit breaker as consecutive
-- record_provider_result() calls would, in the order given: breaker_failure_threshold consecutive
-- failures open it, a success closes it and resets the count, a failure while open extends the
-- cool-down, a probe's result decides. Each answer reports the state after its own result.
begin;
\ir ../_helpers.psql
select plan(18);

update scheduler_settings set breaker_failure_threshold = 3, breaker_cooldown = '60 seconds';
select tests.create_campaign(cap => 30) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 30);
select tests.launch(tests.wednesday_noon());
select count(*) from claim_queued_calls(100, null, tests.wednesday_noon());
create function pg_temp.at(p_seconds integer) returns timestamptz language sql immutable as $$
  select tests.wednesday_noon() + p_seconds * interval '1 second'
$$;
create function pg_temp.call(n integer) returns bigint language sql stable as $$
  select id from calls order by id offset n - 1 limit 1
$$;
-- Call n accepted (a success), or unknown after a failure, at second s.
create function pg_temp.ok(n integer, s integer) returns jsonb language sql stable as $$
  select tests.answer(pg_temp.call(n), 'accepted', 'CA-' || n, at => pg_temp.at(s), breaker_success => true)
$$;
create function pg_temp.bad(n integer, s integer, reason text) returns jsonb language sql stable as $$
  select tests.answer(pg_temp.call(n), 'unknown', reason => reason, at => pg_temp.at(s), breaker_success => false, breaker_reason => reason)
$$;
create function pg_temp.breaker() returns table (state text, failures integer, opened_at timestamptz, open_until timestamptz,
                                                 probe_started_at timestamptz, reason text, updated_at timestamptz)
language sql stable as $$
  select state, consecutive_failures, opened_at, open_until, probe_started_at, last_failure_reason, updated_at
    from provider_circuit_breakers where account = 'default'
$$;

select results_eq(
  format($$select breaker_state from tests.record_batch(pg_temp.at(0), tests.answer(%s, 'accepted', 'CA-1'))$$, pg_temp.call(1)),
  $$values (null::text)$$,
  'an answer without a provider result leaves the breaker alone and reports no state'
);
select is((select count(*)::integer from provider_circuit_breakers), 0, '(no breaker row was even created)');

select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(1), pg_temp.ok(2, 1), pg_temp.ok(3, 2))$$,
  $$values ('closed'), ('closed')$$,
  'successes for a provider never seen: closed'
);
select results_eq(
  $$select state, failures from pg_temp.breaker()$$, $$values ('closed', 0)$$,
  'its breaker now exists, closed, no failures'
);

select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(20),
      pg_temp.bad(4, 10, 'HTTP 500'), pg_temp.bad(5, 11, 'HTTP 502'), pg_temp.ok(6, 12),
      pg_temp.bad(7, 13, 'HTTP 500'), pg_temp.bad(8, 14, 'HTTP 500'), pg_temp.bad(9, 15, 'timeout'))$$,
  $$values ('closed'), ('closed'), ('closed'), ('closed'), ('closed'), ('open')$$,
  'two failures, a success that resets the count, then three consecutive failures: open at the third'
);
select results_eq(
  $$select * from pg_temp.breaker()$$,
  $$values ('open', 3, pg_temp.at(15), pg_temp.at(75), null::timestamptz, 'timeout', pg_temp.at(15))$$,
  'open from the third failure for the cool-down, with the last reason'
);

select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(20), pg_temp.bad(10, 20, 'HTTP 503'), pg_temp.bad(11, 5, 'late timeout'))$$,
  $$values ('open'), ('open')$$,
  'failures while open keep it open'
);
select results_eq(
  $$select state, failures, opened_at, open_until, reason from pg_temp.breaker()$$,
  $$values ('open', 5, pg_temp.at(15), pg_temp.at(80), 'late timeout')$$,
  'the cool-down runs from the latest failure (never shortened), opened_at kept'
);

select is(acquire_dispatch_permit('default', pg_temp.at(80)), 'probe', 'after the cool-down one probe');
select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(81), pg_temp.bad(12, 81, 'HTTP 500'))$$,
  $$values ('open')$$,
  'a failed probe opens the breaker again'
);
select results_eq(
  $$select state, failures, opened_at, open_until, probe_started_at from pg_temp.breaker()$$,
  $$values ('open', 6, pg_temp.at(81), pg_temp.at(141), null::timestamptz)$$,
  'for a whole new cool-down from the probe''s failure'
);

select is(acquire_dispatch_permit('default', pg_temp.at(141)), 'probe', 'the next probe');
select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(142), pg_temp.ok(13, 142))$$,
  $$values ('closed')$$,
  'a successful probe closes the breaker'
);
select results_eq(
  $$select * from pg_temp.breaker()$$,
  $$values ('closed', 0, null::timestamptz, null::timestamptz, null::timestamptz, 'HTTP 500', pg_temp.at(142))$$,
  'closed, count reset, the probe done'
);
select results_eq(
  $$select breaker_state from tests.record_batch(pg_temp.at(150), pg_temp.ok(14, 150), pg_temp.ok(15, 151))$$,
  $$values ('closed'), ('closed')$$,
  'more successes on a closed breaker'
);
select is((select updated_at from pg_temp.breaker()), pg_temp.at(142), 'write nothing (every dispatcher would queue on that row)');

-- Against record_provider_result() one by one, from a half-open breaker, over a long mixed run.
update provider_circuit_breakers set state = 'half_open', probe_started_at = pg_temp.at(200), consecutive_failures = 2,
                                     opened_at = pg_temp.at(100), open_until = pg_temp.at(160);
select jsonb_build_array(
  pg_temp.bad(16, 201, 'a'), pg_temp.bad(17, 202, 'b'), pg_temp.ok(18, 203), pg_temp.bad(19, 204, 'c'),
  pg_temp.bad(20, 205, 'd'), pg_temp.ok(21, 206), pg_temp.ok(22, 207), pg_temp.bad(23, 208, 'e'),
  pg_temp.bad(24, 209, 'f'), pg_temp.bad(25, 210, 'g'), pg_temp.bad(26, 211, 'h'), pg_temp.bad(27, 212, 'i')
) as answers \gset
savepoint before_answers;
select jsonb_agg(record_provider_result('default', (a ->> 'breaker_success')::boolean, a ->> 'breaker_reason', (a ->> 'at')::timestamptz) order by n)
         as expected_states
  from jsonb_array_elements(:'answers') with ordinality as e(a, n) \gset
select to_jsonb(b) as expected_row from provider_circuit_breakers b where account = 'default' \gset
rollback to savepoint before_answers;
select jsonb_agg(r.breaker_state) as batch_states from record_dispatch_results('twilio', :'answers', pg_temp.at(220)) r \gset
select is(:'batch_states'::jsonb, :'expected_states'::jsonb,
          'twelve results in one batch report each state as twelve calls would');
select is((select to_jsonb(b) from provider_circuit_breakers b where account = 'default'), :'expected_row'::jsonb,
          'and leave the breaker as they would');

select * from finish();
rollback;
