-- Circuit breaker over the provider, in the database so it spans ticks and function instances.
--
--   closed --N consecutive failures--> open --cool-down over--> half_open (one probe)
--   half_open --probe succeeds--> closed        half_open --probe fails--> open

-- acquire_dispatch_permit(): may this dispatcher send to p_provider now? 'closed': yes;
-- 'probe': yes, exactly one call, whose result decides; 'open': no.
create function public.acquire_dispatch_permit(
  p_provider text,
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
  insert into public.provider_circuit_breakers (provider) values (p_provider) on conflict (provider) do nothing;
  select * into strict v_breaker from public.provider_circuit_breakers where provider = p_provider for update;

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
   where provider = p_provider;
  return 'probe';
end;
$$;

comment on function public.acquire_dispatch_permit(text, timestamptz) is
  'Asks the provider''s circuit breaker for permission to dispatch: closed (go), probe (send exactly one call; its result decides), open (send nothing).';

-- record_provider_result(): a provider request succeeded (the provider answered sensibly, including
-- a permanent rejection of one number) or failed (5xx, timeout, connection error). Returns the
-- breaker's state afterwards.
create function public.record_provider_result(
  p_provider text,
  p_success boolean,
  p_reason text default null,
  p_now timestamptz default now()
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_state text;
begin
  v_settings := public._settings();
  if not exists (select 1 from public.provider_circuit_breakers b where b.provider = p_provider) then
    insert into public.provider_circuit_breakers (provider) values (p_provider) on conflict (provider) do nothing;
  end if;
  if p_success then
    -- Most results are successes on a closed breaker: then nothing changes and no row is written
    -- (every dispatcher would otherwise queue on this one row).
    update public.provider_circuit_breakers
       set state = 'closed', consecutive_failures = 0, probe_started_at = null, opened_at = null,
           open_until = null, updated_at = p_now
     where provider = p_provider
       and (state <> 'closed' or consecutive_failures <> 0)
    returning state into v_state;
    if v_state is null then
      v_state := 'closed';
    end if;
  else
    update public.provider_circuit_breakers b
       set consecutive_failures = b.consecutive_failures + 1,
           last_failure_reason = left(p_reason, 1000),
           state = case when b.state = 'half_open' or b.state = 'open'
                          or b.consecutive_failures + 1 >= v_settings.breaker_failure_threshold
                        then 'open' else 'closed' end,
           opened_at = case when b.state = 'open' then b.opened_at
                            when b.state = 'half_open' or b.consecutive_failures + 1 >= v_settings.breaker_failure_threshold
                              then p_now else b.opened_at end,
           open_until = case when b.state = 'open' then greatest(b.open_until, p_now + v_settings.breaker_cooldown)
                             when b.state = 'half_open' or b.consecutive_failures + 1 >= v_settings.breaker_failure_threshold
                               then p_now + v_settings.breaker_cooldown else b.open_until end,
           probe_started_at = null,
           updated_at = p_now
     where b.provider = p_provider
    returning b.state into v_state;
  end if;
  return v_state;
end;
$$;

comment on function public.record_provider_result(text, boolean, text, timestamptz) is
  'Feeds one provider request''s result to the circuit breaker: success closes it and resets the count; failure counts, and opens it for breaker_cooldown at breaker_failure_threshold consecutive failures or when a probe fails. Returns the new state.';

revoke all on function public.acquire_dispatch_permit(text, timestamptz) from public, anon, authenticated;
revoke all on function public.record_provider_result(text, boolean, text, timestamptz) from public, anon, authenticated;
grant execute on function public.acquire_dispatch_permit(text, timestamptz) to service_role;
grant execute on function public.record_provider_result(text, boolean, text, timestamptz) to service_role;
