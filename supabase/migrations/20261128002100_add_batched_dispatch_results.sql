-- record_dispatch_results(): the provider's answers to many create-call requests, and what they say
-- about the provider's health, recorded in one round trip. The dispatcher used to pay one round
-- trip per answer (record_dispatch_result() and record_provider_result()); at a few thousand calls
-- per second those round trips cost more than the work itself (docs/performance.md, "Dispatch").
--
-- Per call it means exactly what record_dispatch_result() means, applied in the order given:
--   accepted  -> provider_call_id stored; status advances, never backwards (a callback may have come first)
--   retryable -> back to queued, not an attempt; unless a callback already showed the provider has
--                the call (provider_call_id set): then unknown, never re-sent
--   permanent -> failed, contact settled (invalid number ends it)
--   unknown   -> unknown: never re-sent
--   a call no longer in dialing keeps what its callbacks said (stale / duplicate answers ignored)
-- The common case (accepted, not already final, the call named once in the batch) is one set-based
-- UPDATE with the same expressions as record_dispatch_result(); every other row (other outcomes,
-- an answer that already carries a final status, a call named more than once) is handed to
-- record_dispatch_result() itself, in the order given, so its semantics cannot drift.
--
-- The breaker: each row may carry one provider result (breaker_success true / false, with
-- breaker_reason), folded in the order given exactly as consecutive record_provider_result() calls
-- would be, written once. Only successes (the common case): one record_provider_result() call,
-- which writes nothing when the breaker is closed already.
--
-- Input: p_results, a JSON array of objects
--   {"call_id": 1, "outcome": "accepted", "provider_call_id": "CA..", "status": "dialing",
--    "reason": null, "error_code": null, "retry_at": null, "invalid_number": false,
--    "at": "2026-12-02T12:00:00Z", "breaker_success": true, "breaker_reason": null}
-- where only call_id and outcome are required; "at" defaults to p_now.
-- Output: one row per input element, in input order: the call's status afterwards (what
-- record_dispatch_result() returned for it) and the breaker's state after that element's provider
-- result (null when it carried none).
--
-- All or nothing: an unknown outcome (null included), a call that does not exist or an accepted
-- answer without a provider call id refuses the whole batch with record_dispatch_result()'s error,
-- checked in that order; nothing is recorded, and the calls stay in dialing (never re-sent: the
-- status callback or the reaper settles them). Calls are locked in id order, then the breaker row,
-- so concurrent batches cannot deadlock.

create function public.record_dispatch_results(
  p_provider text,
  p_results jsonb,
  p_now timestamptz default now()
)
returns table (call_id bigint, status public.call_status, breaker_state text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_ids bigint[];
  v_outcomes text[];
  v_provider_call_ids text[];
  v_statuses public.call_status[];
  v_reasons text[];
  v_error_codes text[];
  v_retry_ats timestamptz[];
  v_invalid_numbers boolean[];
  v_ats timestamptz[];
  v_breaker_successes boolean[];
  v_breaker_reasons text[];
  v_fast boolean[];
  v_slow_statuses public.call_status[];
  v_breaker_states text[];
  v_bad_ord bigint;
  v_n integer;
  v_first_success_at timestamptz;
  v_any_failure boolean;
  v_open boolean;
  v_settings public.scheduler_settings;
  v_breaker public.provider_circuit_breakers;
  v_next public.provider_circuit_breakers;
begin
  if p_results is null or jsonb_typeof(p_results) <> 'array' then
    raise exception 'p_results must be a JSON array of dispatch results' using errcode = 'invalid_parameter_value';
  end if;

  select coalesce(array_agg((e.j ->> 'call_id')::bigint order by e.ord), '{}'),
         coalesce(array_agg(e.j ->> 'outcome' order by e.ord), '{}'),
         coalesce(array_agg(e.j ->> 'provider_call_id' order by e.ord), '{}'),
         coalesce(array_agg((e.j ->> 'status')::public.call_status order by e.ord), '{}'),
         coalesce(array_agg(e.j ->> 'reason' order by e.ord), '{}'),
         coalesce(array_agg(e.j ->> 'error_code' order by e.ord), '{}'),
         coalesce(array_agg((e.j ->> 'retry_at')::timestamptz order by e.ord), '{}'),
         coalesce(array_agg(coalesce((e.j ->> 'invalid_number')::boolean, false) order by e.ord), '{}'),
         coalesce(array_agg(coalesce((e.j ->> 'at')::timestamptz, p_now) order by e.ord), '{}'),
         coalesce(array_agg((e.j ->> 'breaker_success')::boolean order by e.ord), '{}'),
         coalesce(array_agg(e.j ->> 'breaker_reason' order by e.ord), '{}')
    into v_ids, v_outcomes, v_provider_call_ids, v_statuses, v_reasons, v_error_codes, v_retry_ats,
         v_invalid_numbers, v_ats, v_breaker_successes, v_breaker_reasons
    from jsonb_array_elements(p_results) with ordinality as e(j, ord);
  v_n := coalesce(array_length(v_ids, 1), 0);
  if v_n = 0 then
    return;
  end if;

  -- The checks of record_dispatch_result(), for the whole batch before anything is written.
  select min(o.ord) into v_bad_ord
    from unnest(v_outcomes) with ordinality as o(outcome, ord)
   where o.outcome is null or o.outcome not in ('accepted', 'retryable', 'permanent', 'unknown');
  if v_bad_ord is not null then
    raise exception 'unknown dispatch outcome: %', v_outcomes[v_bad_ord] using errcode = 'invalid_parameter_value';
  end if;

  perform 1 from public.calls cl where cl.id = any (v_ids) order by cl.id for update;
  select min(r.ord) into v_bad_ord
    from unnest(v_ids) with ordinality as r(id, ord)
   where not exists (select 1 from public.calls cl where cl.id = r.id);
  if v_bad_ord is not null then
    raise exception 'call % does not exist', v_ids[v_bad_ord] using errcode = 'no_data_found';
  end if;

  select min(r.ord) into v_bad_ord
    from unnest(v_outcomes, v_provider_call_ids) with ordinality as r(outcome, provider_call_id, ord)
   where r.outcome = 'accepted' and r.provider_call_id is null;
  if v_bad_ord is not null then
    raise exception 'accepted outcome needs a provider call id' using errcode = 'invalid_parameter_value';
  end if;

  -- Set-based: accepted answers without a final status, for calls named once in the batch.
  select array_agg(f.fast order by f.ord)
    into v_fast
    from (select r.ord,
                 r.outcome = 'accepted'
                 and (r.status is null or not public._is_final_call_status(r.status))
                 and count(*) over (partition by r.id) = 1 as fast
            from unnest(v_ids, v_outcomes, v_statuses) with ordinality as r(id, outcome, status, ord)) f;

  update public.calls cl
     set provider_call_id = coalesce(cl.provider_call_id, r.provider_call_id),
         provider_accepted_at = coalesce(cl.provider_accepted_at, r.at),
         status = case
                    when not public._is_final_call_status(cl.status)
                     and public._call_status_rank(coalesce(r.status, 'dialing')) > public._call_status_rank(cl.status)
                      then coalesce(r.status, 'dialing')
                    else cl.status
                  end,
         updated_at = r.at
    from unnest(v_ids, v_provider_call_ids, v_statuses, v_ats, v_fast)
           as r(id, provider_call_id, status, at, fast)
   where cl.id = r.id
     and r.fast;

  -- Everything else, one by one and in order, by record_dispatch_result() itself.
  v_slow_statuses := array_fill(null::public.call_status, array[v_n]);
  for v_i in 1 .. v_n loop
    if not v_fast[v_i] then
      v_slow_statuses[v_i] := public.record_dispatch_result(
        v_ids[v_i], v_outcomes[v_i], v_provider_call_ids[v_i], v_statuses[v_i], v_reasons[v_i],
        v_error_codes[v_i], v_retry_ats[v_i], v_invalid_numbers[v_i], v_ats[v_i]);
    end if;
  end loop;

  -- The breaker, as record_provider_result() would leave it after each provider result in turn.
  v_breaker_states := array_fill(null::text, array[v_n]);
  select min(r.at) filter (where r.success), coalesce(bool_or(not r.success), false)
    into v_first_success_at, v_any_failure
    from unnest(v_breaker_successes, v_ats) as r(success, at);
  if v_any_failure then
    v_settings := public._settings();
    if not exists (select 1 from public.provider_circuit_breakers b where b.provider = p_provider) then
      insert into public.provider_circuit_breakers (provider) values (p_provider) on conflict (provider) do nothing;
    end if;
    select * into strict v_breaker from public.provider_circuit_breakers b where b.provider = p_provider for update;
    v_next := v_breaker;
    for v_i in 1 .. v_n loop
      continue when v_breaker_successes[v_i] is null;
      if v_breaker_successes[v_i] then
        if v_next.state <> 'closed' or v_next.consecutive_failures <> 0 then
          v_next.state := 'closed';
          v_next.consecutive_failures := 0;
          v_next.probe_started_at := null;
          v_next.opened_at := null;
          v_next.open_until := null;
          v_next.updated_at := v_ats[v_i];
        end if;
      else
        v_open := v_next.state = 'half_open' or v_next.state = 'open'
                  or v_next.consecutive_failures + 1 >= v_settings.breaker_failure_threshold;
        v_next.opened_at := case when v_next.state = 'open' then v_next.opened_at
                                 when v_open then v_ats[v_i] else v_next.opened_at end;
        v_next.open_until := case when v_next.state = 'open' then greatest(v_next.open_until, v_ats[v_i] + v_settings.breaker_cooldown)
                                  when v_open then v_ats[v_i] + v_settings.breaker_cooldown else v_next.open_until end;
        v_next.state := case when v_open then 'open' else 'closed' end;
        v_next.consecutive_failures := v_next.consecutive_failures + 1;
        v_next.last_failure_reason := left(v_breaker_reasons[v_i], 1000);
        v_next.probe_started_at := null;
        v_next.updated_at := v_ats[v_i];
      end if;
      v_breaker_states[v_i] := v_next.state;
    end loop;
    if v_next is distinct from v_breaker then
      update public.provider_circuit_breakers b
         set state = v_next.state,
             consecutive_failures = v_next.consecutive_failures,
             opened_at = v_next.opened_at,
             open_until = v_next.open_until,
             probe_started_at = v_next.probe_started_at,
             last_failure_reason = v_next.last_failure_reason,
             updated_at = v_next.updated_at
       where b.provider = p_provider;
    end if;
  elsif v_first_success_at is not null then
    -- Only successes: the first one closes the breaker (if it was not closed with no failures);
    -- the rest change nothing, exactly as they would one by one.
    perform public.record_provider_result(p_provider, true, null, v_first_success_at);
    for v_i in 1 .. v_n loop
      if v_breaker_successes[v_i] then
        v_breaker_states[v_i] := 'closed';
      end if;
    end loop;
  end if;

  return query
  select r.id,
         case when r.fast then cl.status else v_slow_statuses[r.ord::integer] end,
         v_breaker_states[r.ord::integer]
    from unnest(v_ids, v_fast) with ordinality as r(id, fast, ord)
    join public.calls cl on cl.id = r.id
   order by r.ord;
end;
$$;

comment on function public.record_dispatch_results(text, jsonb, timestamptz) is
  'Records many create-call answers in one round trip: per call exactly record_dispatch_result() (accepted / retryable / permanent / unknown, never backwards, never requeues a call the provider has), in the order given; the provider results they carry are applied to p_provider''s circuit breaker as consecutive record_provider_result() calls would. All or nothing. Returns, in input order, each call''s status afterwards and the breaker state after its provider result (null when none).';

revoke all on function public.record_dispatch_results(text, jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.record_dispatch_results(text, jsonb, timestamptz) to service_role;
