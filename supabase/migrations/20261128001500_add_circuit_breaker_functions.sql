-- Circuit breaker per provider account, in the database so it spans ticks and function instances.
--
--   closed --N consecutive failures--> open --cool-down over--> half_open (one probe)
--   half_open --probe succeeds--> closed        half_open --probe fails--> open

-- acquire_dispatch_permit(): may this dispatcher send calls of account p_account now? 'closed': yes;
-- 'probe': yes, exactly one call, whose result decides; 'open': no.
create function public.acquire_dispatch_permit(
  p_account text,
  p_now timestamptz default now()
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_breaker public.provider_circuit_breakers;
begin
  v_settings := public._settings();
  insert into public.provider_circuit_breakers (account) values (p_account) on conflict (account) do nothing;
  select * into strict v_breaker from public.provider_circuit_breakers where account = p_account for update;

  if v_breaker.state = 'closed' then
    return 'closed';
  end if;
  if v_breaker.state = 'open' and p_now < v_breaker.open_until then
    return 'open';
  end if;
  if v_breaker.state = 'half_open' and v_breaker.probe_started_at > p_now - v_settings.breaker_cooldown then
    return 'open'; -- a probe is in flight
  end if;
  update public.provider_circuit_breakers
     set state = 'half_open', probe_started_at = p_now, updated_at = p_now
   where account = p_account;
  return 'probe';
end;
$$;

comment on function public.acquire_dispatch_permit(text, timestamptz) is
  'Asks the account''s circuit breaker for permission to dispatch: closed (go), probe (send exactly one call; its result decides), open (send nothing).';

-- _breaker_after(): the breaker's transitions, in one place: the breaker after one provider
-- result at p_at. Success closes it and resets the count (unchanged when it was closed with no
-- failures); failure counts, and opens it for breaker_cooldown at breaker_failure_threshold
-- consecutive failures, when a probe fails (half_open) or while it is open (extending open_until).
create function public._breaker_after(
  p_breaker public.provider_circuit_breakers,
  p_success boolean,
  p_reason text,
  p_at timestamptz,
  p_failure_threshold integer,
  p_cooldown interval
)
returns public.provider_circuit_breakers
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  v_next public.provider_circuit_breakers := p_breaker;
  v_open boolean;
begin
  if p_success then
    if p_breaker.state <> 'closed' or p_breaker.consecutive_failures <> 0 then
      v_next.state := 'closed';
      v_next.consecutive_failures := 0;
      v_next.probe_started_at := null;
      v_next.opened_at := null;
      v_next.open_until := null;
      v_next.updated_at := p_at;
    end if;
    return v_next;
  end if;
  v_open := p_breaker.state in ('half_open', 'open') or p_breaker.consecutive_failures + 1 >= p_failure_threshold;
  v_next.opened_at := case when p_breaker.state = 'open' then p_breaker.opened_at
                           when v_open then p_at else p_breaker.opened_at end;
  v_next.open_until := case when p_breaker.state = 'open' then greatest(p_breaker.open_until, p_at + p_cooldown)
                            when v_open then p_at + p_cooldown else p_breaker.open_until end;
  v_next.state := case when v_open then 'open' else 'closed' end;
  v_next.consecutive_failures := p_breaker.consecutive_failures + 1;
  v_next.last_failure_reason := left(p_reason, 1000);
  v_next.probe_started_at := null;
  v_next.updated_at := p_at;
  return v_next;
end;
$$;

-- _apply_breaker_results(): provider results (p_successes[i] at p_ats[i], null: no result) applied
-- in order to p_account's breaker (_breaker_after()), written once. Returns the state after each
-- result (null where there was none). Only successes on a closed breaker (the common case): no row
-- is locked or written (every dispatcher would otherwise queue on this one row).
create function public._apply_breaker_results(
  p_account text,
  p_successes boolean[],
  p_reasons text[],
  p_ats timestamptz[]
)
returns text[]
language plpgsql
set search_path = ''
as $$
declare
  v_n integer := coalesce(array_length(p_successes, 1), 0);
  v_states text[] := array_fill(null::text, array[coalesce(array_length(p_successes, 1), 0)]);
  v_settings public.scheduler_settings;
  v_breaker public.provider_circuit_breakers;
  v_next public.provider_circuit_breakers;
begin
  if v_n = 0 or array_position(p_successes, true) is null and array_position(p_successes, false) is null then
    return v_states;
  end if;
  if not exists (select 1 from public.provider_circuit_breakers b where b.account = p_account) then
    insert into public.provider_circuit_breakers (account) values (p_account) on conflict (account) do nothing;
  end if;
  select * into strict v_breaker from public.provider_circuit_breakers b where b.account = p_account;
  if array_position(p_successes, false) is null
     and v_breaker.state = 'closed' and v_breaker.consecutive_failures = 0 then
    for v_i in 1 .. v_n loop
      if p_successes[v_i] then
        v_states[v_i] := 'closed';
      end if;
    end loop;
    return v_states;
  end if;

  v_settings := public._settings();
  select * into strict v_breaker from public.provider_circuit_breakers b where b.account = p_account for update;
  v_next := v_breaker;
  for v_i in 1 .. v_n loop
    continue when p_successes[v_i] is null;
    v_next := public._breaker_after(v_next, p_successes[v_i], p_reasons[v_i], p_ats[v_i],
                                    v_settings.breaker_failure_threshold, v_settings.breaker_cooldown);
    v_states[v_i] := v_next.state;
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
     where b.account = p_account;
  end if;
  return v_states;
end;
$$;

-- record_provider_result(): a provider request succeeded (the provider answered sensibly, including
-- a permanent rejection of one number) or failed (5xx, timeout, connection error). Returns the
-- breaker's state afterwards.
create function public.record_provider_result(
  p_account text,
  p_success boolean,
  p_reason text default null,
  p_now timestamptz default now()
)
returns text
language sql
set search_path = ''
as $$
  select (public._apply_breaker_results(p_account, array[p_success], array[p_reason], array[p_now]))[1]
$$;

comment on function public.record_provider_result(text, boolean, text, timestamptz) is
  'Feeds one provider request''s result to the circuit breaker: success closes it and resets the count; failure counts, and opens it for breaker_cooldown at breaker_failure_threshold consecutive failures or when a probe fails. Returns the new state.';

revoke all on function public._breaker_after(public.provider_circuit_breakers, boolean, text, timestamptz, integer, interval) from public, anon, authenticated;
revoke all on function public._apply_breaker_results(text, boolean[], text[], timestamptz[]) from public, anon, authenticated;
revoke all on function public.acquire_dispatch_permit(text, timestamptz) from public, anon, authenticated;
revoke all on function public.record_provider_result(text, boolean, text, timestamptz) from public, anon, authenticated;
grant execute on function public._breaker_after(public.provider_circuit_breakers, boolean, text, timestamptz, integer, interval) to service_role;
grant execute on function public._apply_breaker_results(text, boolean[], text[], timestamptz[]) to service_role;
grant execute on function public.acquire_dispatch_permit(text, timestamptz) to service_role;
grant execute on function public.record_provider_result(text, boolean, text, timestamptz) to service_role;

-- _account_dispatch_blocked(): true while the account's breaker lets none of its calls be claimed:
-- open until open_until, or half open with a probe in flight (for at most a cool-down). The one
-- home of that rule: claim_queued_calls() skips the calls of a blocked account (they stay queued),
-- and the dispatcher tells a blocked backlog from an empty queue with it.
-- PL/pgSQL, as _dispatch_blocked_campaigns() below: its query's plan is kept by the session (a SQL
-- function with a search_path is not inlined, and is planned again at every statement that calls
-- it; every claim calls both).
create function public._account_dispatch_blocked(p_account text, p_now timestamptz, p_cooldown interval)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce((
    select (b.state = 'open' and b.open_until > p_now)
           or (b.state = 'half_open' and b.probe_started_at > p_now - p_cooldown)
      from public.provider_circuit_breakers b
     where b.account = p_account), false);
end;
$$;

-- _dispatch_blocked_campaigns(): the campaigns whose account is blocked (_account_dispatch_blocked),
-- computed once per statement (usually none): a claim filters its candidates with a plain array
-- test instead of a per-row lookup, and still walks the queue's index in order.
create function public._dispatch_blocked_campaigns(p_now timestamptz, p_cooldown interval)
returns bigint[]
language plpgsql
stable
set search_path = ''
as $$
begin
  return (select coalesce(array_agg(c.id), '{}')
            from public.campaigns c
           where c.provider_account in (
                   select b.account from public.provider_circuit_breakers b
                    where public._account_dispatch_blocked(b.account, p_now, p_cooldown)));
end;
$$;

revoke all on function public._account_dispatch_blocked(text, timestamptz, interval) from public, anon, authenticated;
grant execute on function public._account_dispatch_blocked(text, timestamptz, interval) to service_role;
revoke all on function public._dispatch_blocked_campaigns(timestamptz, interval) from public, anon, authenticated;
grant execute on function public._dispatch_blocked_campaigns(timestamptz, interval) to service_role;
