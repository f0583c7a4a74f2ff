-- The provider's answers to create-call requests, recorded (the call lifecycle is drawn in
-- 20261128001300_add_call_lifecycle_functions.sql).

-- _record_dispatch_result(): what the provider said to one create-call request, one call at a time.
-- The batch, record_dispatch_results() (below), is the only caller: it applies the common case
-- set-based and hands every other answer to this function, in order.
--   accepted  -> provider_call_id stored; status advances (never backwards: a callback may have come first)
--   retryable -> (429/503: the provider did not create the call) back to queued at p_retry_at, attempt not counted
--   permanent -> failed with the provider's reason; contact invalid (bad number) or retried per the rules
--   unknown   -> unknown: never re-sent; reconciled by a callback or expired by the reaper
--   campaign_rejected -> the provider refused the campaign as a whole (caller id, answer URL,
--                account: nothing was created): the call is released (not an attempt, the contact
--                back to pending) and the campaign PAUSED with the reason, so no other contact
--                burns an attempt on it
create function public._record_dispatch_result(
  p_call_id bigint,
  p_outcome text,
  p_provider_call_id text default null,
  p_status public.call_status default null,
  p_reason text default null,
  p_error_code text default null,
  p_retry_at timestamptz default null,
  p_invalid_number boolean default false,
  p_now timestamptz default now()
)
returns public.call_status
language plpgsql
set search_path = ''
as $$
declare
  v_call public.calls;
begin
  if p_outcome not in ('accepted', 'retryable', 'permanent', 'unknown', 'campaign_rejected') then
    raise exception 'unknown dispatch outcome: %', p_outcome using errcode = 'invalid_parameter_value';
  end if;

  select * into v_call from public.calls where id = p_call_id for update;
  if not found then
    raise exception 'call % does not exist', p_call_id using errcode = 'no_data_found';
  end if;

  if p_outcome = 'accepted' then
    if p_provider_call_id is null then
      raise exception 'accepted outcome needs a provider call id' using errcode = 'invalid_parameter_value';
    end if;
    if p_status is not null and public._is_final_call_status(p_status) then
      -- The provider's answer already says the call ended: end it like a status callback would.
      update public.calls
         set provider_call_id = coalesce(provider_call_id, p_provider_call_id),
             provider_accepted_at = coalesce(provider_accepted_at, p_now),
             updated_at = p_now
       where id = p_call_id;
      -- As the call's own account: the provider's answer to our request, not a callback.
      perform public.apply_call_status(p_call_id, v_call.provider, p_provider_call_id, p_status, null, p_error_code, p_now,
        p_account_sid => (select a.account_sid
                            from public.campaigns c
                            join public.provider_accounts a on a.id = c.provider_account
                           where c.id = v_call.campaign_id));
      select c.status into v_call.status from public.calls c where c.id = p_call_id;
      return v_call.status;
    end if;
    update public.calls
       set provider_call_id = coalesce(provider_call_id, p_provider_call_id),
           provider_accepted_at = coalesce(provider_accepted_at, p_now),
           status = case
                      when not public._is_final_call_status(status)
                       and public._call_status_rank(coalesce(p_status, 'dialing')) > public._call_status_rank(status)
                        then coalesce(p_status, 'dialing')
                      else status
                    end,
           updated_at = p_now
     where id = p_call_id
    returning status into v_call.status;
    return v_call.status;
  end if;

  if v_call.status <> 'dialing' then
    -- A status callback already told us more than this response can: keep what we know.
    return v_call.status;
  end if;

  if p_outcome = 'retryable' and v_call.provider_call_id is not null then
    -- A callback already proved the provider has this call (an 'initiated' callback keeps the
    -- status at dialing but stores the provider's id): whatever the answer says, it must never be
    -- sent again. We no longer know how it went: unknown, reconciled by its callbacks.
    update public.calls
       set status = 'unknown', error = p_reason, error_code = p_error_code, updated_at = p_now
     where id = p_call_id;
    return 'unknown'::public.call_status;
  elsif p_outcome = 'retryable' then
    update public.calls
       set status = 'queued', dialed_at = null, dispatch_run_id = null,
           dispatch_after = greatest(coalesce(p_retry_at, p_now), p_now),
           error = p_reason, error_code = p_error_code, updated_at = p_now
     where id = p_call_id;
    update public.contacts
       set attempts = greatest(attempts - 1, 0), updated_at = p_now
     where id = v_call.contact_id;
    return 'queued'::public.call_status;
  elsif p_outcome = 'campaign_rejected' and v_call.provider_call_id is null then
    update public.calls
       set status = 'canceled', released_at = p_now, dialed_at = null, ended_at = p_now,
           error = 'released: the provider refused the campaign: ' || coalesce(p_reason, 'no reason given'),
           error_code = p_error_code, updated_at = p_now
     where id = p_call_id;
    update public.contacts ct
       set attempts = greatest(ct.attempts - 1, 0),
           status = case when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                         then 'do_not_call'::public.contact_status
                         else 'pending'::public.contact_status end,
           last_error = 'call released: the provider refused the campaign', updated_at = p_now
     where ct.id = v_call.contact_id and ct.status = 'in_progress';
    update public.campaigns c
       set status = 'PAUSED',
           paused_reason = 'the provider refused the campaign'
                           || coalesce(' (code ' || p_error_code || ')', '') || ': ' || coalesce(p_reason, 'no reason given'),
           paused_at = p_now, updated_at = p_now
     where c.id = v_call.campaign_id and c.status in ('QUEUED', 'RUNNING');
    return 'canceled'::public.call_status;
  elsif p_outcome in ('permanent', 'campaign_rejected') then
    -- (campaign_rejected for a call the provider has, as a callback showed: it was dialled, so it
    -- fails like any permanent refusal.)
    update public.calls
       set status = 'failed', ended_at = p_now, error = p_reason, error_code = p_error_code, updated_at = p_now
     where id = p_call_id;
    perform public._settle_contact(v_call.contact_id, 'failed', coalesce(p_invalid_number, false), p_reason, p_now);
    return 'failed'::public.call_status;
  else
    update public.calls
       set status = 'unknown', error = p_reason, error_code = p_error_code, updated_at = p_now
     where id = p_call_id;
    return 'unknown'::public.call_status;
  end if;
end;
$$;

revoke all on function public._record_dispatch_result(bigint, text, text, public.call_status, text, text, timestamptz, boolean, timestamptz) from public, anon, authenticated;
grant execute on function public._record_dispatch_result(bigint, text, text, public.call_status, text, text, timestamptz, boolean, timestamptz) to service_role;

-- record_dispatch_results(): the provider's answers to many create-call requests (p_provider: the
-- provider they went to; each call's provider must be it), and what they say
-- about the provider's health, recorded in one round trip (one round trip per answer would cost
-- more than the work itself at a few thousand calls per second: docs/performance.md, "Dispatch").
-- It is the dispatcher's only way to record answers; record_dispatch_result() (one answer) is a
-- thin wrapper over it.
--
-- Per call, applied in the order given:
--   accepted  -> provider_call_id stored; status advances, never backwards (a callback may have come first)
--   retryable -> back to queued, not an attempt; unless a callback already showed the provider has
--                the call (provider_call_id set): then unknown, never re-sent
--   permanent -> failed, contact settled (invalid number ends it)
--   unknown   -> unknown: never re-sent
--   campaign_rejected -> the provider refused the campaign as a whole: call released (not an
--                attempt), contact back to pending, campaign PAUSED with paused_reason
--   a call no longer in dialing keeps what its callbacks said (stale / duplicate answers ignored)
-- The common case (accepted, not already final, the call named once in the batch) is one set-based
-- UPDATE with the same expressions as _record_dispatch_result(); every other row (other outcomes,
-- an answer that already carries a final status, a call named more than once) is handed to
-- _record_dispatch_result(), in the order given.
--
-- The breaker: each row may carry one provider result (breaker_success true / false, with
-- breaker_reason), applied to the breaker of the call's provider account (its campaign's), in the
-- order given, by _apply_breaker_results() (the breaker's one set of transitions, which
-- record_provider_result() uses too), written once per account.
--
-- Input: p_results, a JSON array of objects
--   {"call_id": 1, "outcome": "accepted", "provider_call_id": "CA..", "status": "dialing",
--    "reason": null, "error_code": null, "retry_at": null, "invalid_number": false,
--    "at": "2026-12-02T12:00:00Z", "breaker_success": true, "breaker_reason": null,
--    "hold_until": null}
-- where only call_id and outcome are required; "at" defaults to p_now. "hold_until" (a 429's
-- Retry-After) holds the rate bucket of the call's provider account until then, for every dispatcher.
-- Output: one row per input element, in input order: the call's status afterwards and the
-- breaker's state after that element's provider result (null when it carried none).
--
-- All or nothing: an unknown outcome (null included), a call that does not exist or an accepted
-- answer without a provider call id refuses the whole batch, checked in that order; nothing is recorded, and the calls stay in dialing (never re-sent: the
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
-- Generic plans from the first call: every statement here reads calls by id (arrays of ids), the
-- same plan for any batch, and planning each afresh (a custom plan, which PL/pgSQL makes for a
-- session's first five calls) cost more than running it; the dispatcher's pooled connections each
-- see few batches.
set plan_cache_mode = force_generic_plan
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
  v_accounts text[];
  v_account text;
  v_account_states text[];
  v_bad_ord bigint;
  v_n integer;
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

  -- The checks, for the whole batch before anything is written.
  select min(o.ord) into v_bad_ord
    from unnest(v_outcomes) with ordinality as o(outcome, ord)
   where o.outcome is null or o.outcome not in ('accepted', 'retryable', 'permanent', 'unknown', 'campaign_rejected');
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
    from unnest(v_ids) with ordinality as r(id, ord)
    join public.calls cl on cl.id = r.id
   where cl.provider is distinct from p_provider;
  if v_bad_ord is not null then
    raise exception 'call % was not sent to provider %', v_ids[v_bad_ord], p_provider using errcode = 'invalid_parameter_value';
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

  -- Everything else, one by one and in order.
  v_slow_statuses := array_fill(null::public.call_status, array[v_n]);
  for v_i in 1 .. v_n loop
    if not v_fast[v_i] then
      v_slow_statuses[v_i] := public._record_dispatch_result(
        v_ids[v_i], v_outcomes[v_i], v_provider_call_ids[v_i], v_statuses[v_i], v_reasons[v_i],
        v_error_codes[v_i], v_retry_ats[v_i], v_invalid_numbers[v_i], v_ats[v_i]);
    end if;
  end loop;

  -- The provider results go to the breaker of each call's provider account, in order.
  -- A provider's 429 (hold_until) holds the account's rate bucket back for every dispatcher.
  update public.provider_accounts a
     set next_send_at = h.until, updated_at = p_now
    from (select c.provider_account as account, max((e.j ->> 'hold_until')::timestamptz) as until
            from jsonb_array_elements(p_results) as e(j)
            join public.calls cl on cl.id = (e.j ->> 'call_id')::bigint
            join public.campaigns c on c.id = cl.campaign_id
           where e.j ->> 'hold_until' is not null
           group by c.provider_account) h
   where a.id = h.account
     and h.until > a.next_send_at;

  v_breaker_states := array_fill(null::text, array[v_n]);
  if array_position(v_breaker_successes, true) is not null or array_position(v_breaker_successes, false) is not null then
    select array_agg(c.provider_account order by r.ord)
      into v_accounts
      from unnest(v_ids) with ordinality as r(id, ord)
      join public.calls cl on cl.id = r.id
      join public.campaigns c on c.id = cl.campaign_id;
    for v_account in select distinct a.account from unnest(v_accounts) as a(account) order by 1 loop
      v_account_states := public._apply_breaker_results(
        v_account,
        array(select case when x.account = v_account then x.success end
                from unnest(v_accounts, v_breaker_successes) with ordinality as x(account, success, ord)
               order by x.ord),
        v_breaker_reasons, v_ats);
      for v_i in 1 .. v_n loop
        if v_accounts[v_i] = v_account then
          v_breaker_states[v_i] := v_account_states[v_i];
        end if;
      end loop;
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
  'Records many create-call answers in one round trip: per call accepted / retryable (back to queued, not an attempt) / permanent (failed) / unknown (never re-sent), never backwards, never requeues a call the provider has, in the order given; the provider results they carry are applied to p_provider''s circuit breaker in order (as consecutive record_provider_result() calls would). All or nothing. Returns, in input order, each call''s status afterwards and the breaker state after its provider result (null when none).';

revoke all on function public.record_dispatch_results(text, jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.record_dispatch_results(text, jsonb, timestamptz) to service_role;

-- record_dispatch_result(): one answer, as a batch of one (the breaker is left alone). Returns the
-- call's status afterwards.
create function public.record_dispatch_result(
  p_call_id bigint,
  p_outcome text,
  p_provider_call_id text default null,
  p_status public.call_status default null,
  p_reason text default null,
  p_error_code text default null,
  p_retry_at timestamptz default null,
  p_invalid_number boolean default false,
  p_now timestamptz default now()
)
returns public.call_status
language sql
set search_path = ''
as $$
  select r.status
    from public.record_dispatch_results(
      (select cl.provider from public.calls cl where cl.id = p_call_id),
      pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
        'call_id', p_call_id, 'outcome', p_outcome, 'provider_call_id', p_provider_call_id,
        'status', p_status, 'reason', p_reason, 'error_code', p_error_code, 'retry_at', p_retry_at,
        'invalid_number', p_invalid_number, 'at', p_now)),
      p_now) r
$$;

comment on function public.record_dispatch_result(bigint, text, text, public.call_status, text, text, timestamptz, boolean, timestamptz) is
  'Records the provider''s answer to one create-call request: record_dispatch_results() with a batch of one (accepted / retryable / permanent / unknown; never moves a call backwards). Returns the call''s status afterwards.';

revoke all on function public.record_dispatch_result(bigint, text, text, public.call_status, text, text, timestamptz, boolean, timestamptz) from public, anon, authenticated;
grant execute on function public.record_dispatch_result(bigint, text, text, public.call_status, text, text, timestamptz, boolean, timestamptz) to service_role;
