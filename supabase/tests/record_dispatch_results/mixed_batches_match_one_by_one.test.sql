-- A batch mixing every outcome, stale answers (a callback came first), a call the provider has
-- shown it has, and calls named twice, must leave the database exactly as recording the same
-- answers one by one, in the same order, with record_dispatch_result() and record_provider_result()
-- does (calls, contacts, breaker, and each answer's returned status and breaker state).
begin;
\ir ../_helpers.psql
select plan(7);

update scheduler_settings set breaker_failure_threshold = 2, breaker_cooldown = '60 seconds';
select tests.create_campaign(cap => 12, retry_delay => '1 hour') as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 12);
select tests.launch(tests.wednesday_noon());
select count(*) from claim_queued_calls(100, null, tests.wednesday_noon());
create function pg_temp.call(n integer) returns bigint language sql stable as $$
  select id from calls order by id offset n - 1 limit 1
$$;
create function pg_temp.at(p_seconds integer) returns timestamptz language sql immutable as $$
  select tests.wednesday_noon() + p_seconds * interval '1 second'
$$;

-- Before the answers: call 2 is ringing (callback first), call 3 dialing with the provider's id
-- (an 'initiated' callback), call 4 completed (all its callbacks first), call 11 in progress;
-- the others dialing. Calls 4 and 9-12 are named once, accepted without a final status: the
-- set-based path; the others go one by one through record_dispatch_result().
select apply_call_status(pg_temp.call(2), 'twilio', 'CA-2', 'ringing', p_now => pg_temp.at(1));
select apply_call_status(pg_temp.call(3), 'twilio', 'CA-3', 'dialing', p_now => pg_temp.at(1));
select apply_call_status(pg_temp.call(4), 'twilio', 'CA-4', 'completed', 12, p_now => pg_temp.at(1));
select apply_call_status(pg_temp.call(11), 'twilio', 'CA-11', 'in_progress', p_now => pg_temp.at(1));

select jsonb_build_array(
  tests.answer(pg_temp.call(1), 'accepted', 'CA-1', at => pg_temp.at(2), breaker_success => true),
  tests.answer(pg_temp.call(2), 'retryable', reason => 'Twilio 20503', error_code => '20503',
               retry_at => pg_temp.at(30), at => pg_temp.at(2), breaker_success => false, breaker_reason => 'HTTP 503'),
  tests.answer(pg_temp.call(3), 'retryable', reason => 'Twilio 20503', at => pg_temp.at(3), breaker_success => false, breaker_reason => 'HTTP 503'),
  tests.answer(pg_temp.call(4), 'accepted', 'CA-4', at => pg_temp.at(3), breaker_success => true),
  tests.answer(pg_temp.call(5), 'permanent', reason => 'not a valid number', error_code => '21217',
               invalid_number => true, at => pg_temp.at(4), breaker_success => true, breaker_reason => 'not a valid number'),
  tests.answer(pg_temp.call(6), 'unknown', reason => 'timeout', at => pg_temp.at(4), breaker_success => false, breaker_reason => 'timeout'),
  tests.answer(pg_temp.call(7), 'accepted', 'CA-7', 'ringing', at => pg_temp.at(5), breaker_success => true),
  tests.answer(pg_temp.call(7), 'retryable', reason => 'late 429', at => pg_temp.at(5)),
  tests.answer(pg_temp.call(8), 'retryable', reason => 'rate limited', error_code => '429', retry_at => pg_temp.at(20), at => pg_temp.at(6)),
  tests.answer(pg_temp.call(8), 'accepted', 'CA-8', at => pg_temp.at(7), breaker_success => false, breaker_reason => 'HTTP 500'),
  tests.answer(pg_temp.call(1), 'accepted', 'CA-1', 'in_progress', at => pg_temp.at(8), breaker_success => false, breaker_reason => 'HTTP 502'),
  tests.answer(pg_temp.call(6), 'permanent', reason => 'too late', at => pg_temp.at(9)),
  tests.answer(pg_temp.call(5), 'accepted', 'CA-5', 'completed', at => pg_temp.at(9), breaker_success => true),
  tests.answer(pg_temp.call(9), 'accepted', 'CA-9', at => pg_temp.at(9), breaker_success => true),
  tests.answer(pg_temp.call(10), 'accepted', 'CA-10', 'ringing', at => pg_temp.at(9)),
  tests.answer(pg_temp.call(11), 'accepted', 'CA-11-other', 'ringing', at => pg_temp.at(9), breaker_success => true),
  tests.answer(pg_temp.call(12), 'accepted', 'CA-12', 'queued', at => pg_temp.at(9))
) as answers \gset

-- The same answers one by one, as the dispatcher used to record them (one statement each).
create function pg_temp.one_by_one(p_answers jsonb) returns jsonb language plpgsql as $$
declare
  a jsonb;
  v_status call_status;
  v_breaker text;
  v_out jsonb := '[]';
begin
  for a in select e from jsonb_array_elements(p_answers) e loop
    v_status := record_dispatch_result((a ->> 'call_id')::bigint, a ->> 'outcome', a ->> 'provider_call_id',
      (a ->> 'status')::call_status, a ->> 'reason', a ->> 'error_code', (a ->> 'retry_at')::timestamptz,
      coalesce((a ->> 'invalid_number')::boolean, false), (a ->> 'at')::timestamptz);
    v_breaker := case when a ? 'breaker_success'
                      then record_provider_result('default', (a ->> 'breaker_success')::boolean, a ->> 'breaker_reason', (a ->> 'at')::timestamptz)
                 end;
    v_out := v_out || jsonb_build_array(jsonb_build_array((a ->> 'call_id')::bigint, v_status, v_breaker));
  end loop;
  return v_out;
end;
$$;
create function pg_temp.state() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'calls', (select jsonb_agg(to_jsonb(c) order by c.id) from calls c),
    'contacts', (select jsonb_agg(to_jsonb(ct) - 'updated_at' || jsonb_build_object('updated_at', ct.updated_at) order by ct.id) from contacts ct),
    'breaker', (select jsonb_agg(to_jsonb(b) order by b.account) from provider_circuit_breakers b))
$$;
-- The breaker row exists before both runs (its creation time is the transaction's now()).
select record_provider_result('default', true, null, pg_temp.at(0));

savepoint before_answers;
select pg_temp.one_by_one(:'answers') as expected_answers \gset
select pg_temp.state() as expected_state \gset
rollback to savepoint before_answers;

select jsonb_agg(jsonb_build_array(r.call_id, r.status, r.breaker_state)) as batch_answers
  from record_dispatch_results('twilio', :'answers', pg_temp.at(10)) r \gset
select is(:'batch_answers'::jsonb, :'expected_answers'::jsonb,
          'each answer''s status and breaker state, in input order, as one by one');
select is(pg_temp.state() -> 'calls', :'expected_state'::jsonb -> 'calls', 'the calls end up as one by one');
select is(pg_temp.state() -> 'contacts', :'expected_state'::jsonb -> 'contacts', 'the contacts end up as one by one');
select is(pg_temp.state() -> 'breaker', :'expected_state'::jsonb -> 'breaker', 'the breaker ends up as one by one');

-- Spelled out, for the reader.
select results_eq(
  $$select status, provider_call_id from calls order by id$$,
  $$values ('in_progress'::call_status, 'CA-1'), ('ringing', 'CA-2'), ('unknown', 'CA-3'), ('completed', 'CA-4'),
           ('failed', 'CA-5'), ('unknown', null), ('ringing', 'CA-7'), ('dialing', 'CA-8'),
           ('dialing', 'CA-9'), ('ringing', 'CA-10'), ('in_progress', 'CA-11'), ('dialing', 'CA-12')$$,
  'stale answers ignored, the provider''s call never requeued, every other answer applied in order'
);
select is(
  jsonb_path_query_array(:'expected_answers', '$[*][2]'),
  '["closed", "closed", "open", "closed", "closed", "closed", "closed", null, null, "closed", "open", null, "closed",
    "closed", null, "closed", null]'::jsonb,
  'the breaker opened at each second consecutive failure, and each success closed it again'
);
select results_eq(
  $$select state, consecutive_failures, opened_at, open_until, last_failure_reason from provider_circuit_breakers$$,
  $$values ('closed', 0, null::timestamptz, null::timestamptz, 'HTTP 502')$$,
  'the last answer, a success, left it closed (the last failure''s reason kept)'
);

select * from finish();
rollback;
