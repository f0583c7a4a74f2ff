-- The claim: queued calls to dialing, each with a send slot from its account's rate bucket (the
-- call lifecycle is drawn in 20261128001300_add_call_lifecycle_functions.sql).

-- claim_queued_calls(): take up to p_limit queued calls for dialling, in one statement, with
-- FOR UPDATE SKIP LOCKED so concurrent dispatchers never take the same call. Invariant 3 is
-- re-checked here, at the moment of dialling: a call whose campaign is no longer QUEUED/RUNNING,
-- whose number is on the do-not-call list, whose contact is out of attempts or outside its calling
-- window, or that waited longer than queued_call_ttl is released (canceled, released_at set, the
-- contact back to pending / do_not_call / exhausted) without counting an attempt.
-- A call of a campaign with requires_consent whose contact's consent is not valid at p_now (none,
-- not yet given, expired meanwhile) is released the same way, with reason 'no valid consent'.
--
-- Calls of a provider account whose circuit breaker is open (or has a probe in flight) are not
-- claimed: they stay queued (_account_dispatch_blocked()).
--
-- The provider's rate: each claimed call gets a send slot (send_at) from its provider account's
-- bucket (provider_accounts.next_send_at, a GCRA): slots are (1000 + rate_margin_ms) /
-- calls_per_second ms apart, shared by every dispatcher, none earlier than p_now; only calls whose
-- slot falls within p_horizon_ms after p_now, or within one of its account's slots when that is
-- longer (so a claim made just after a slow account's send still gets its next slot), are claimed
-- (the others stay queued for the next claim). The caller sends no call before its slot, and gives up
-- (requeue) a slot it missed by more than rate_margin_ms / 2, so no one-second window holds more than
-- calls_per_second requests.
--
-- The shift (p_shift_ms): the claim's answer reaches the dispatcher a round trip after p_now, and
-- sending takes time, so each account's slots in this claim may be sent later than their send_at by
-- a shift of at most p_shift_ms that never decreases along the claim (slot i + shift i, shift i <=
-- shift i + 1): the shifted slots stay a slot apart. The bucket keeps the shift for them (next_send_at
-- moves past the last slot by the slot interval plus p_shift_ms), and returns it as bucket_until.
-- The give-back (p_give_back, [{"account", "until", "ms"}]): the dispatcher's next claim hands back
-- the part of the shift it did not use, ms from an account's bucket whose next_send_at is still the
-- until its previous claim was given (no claim took slots after it), so the next slot is a slot
-- after the last shifted slot it used. A bucket another claim moved on is left alone.
--
-- Claimed calls move to dialing, with what allowed them (dial_evidence), and their contact's
-- attempts go up by one. Returns every call it looked at: claimed ones with release_reason null
-- and their send_at, released ones with the reason.
create function public.claim_queued_calls(
  p_limit integer,
  p_run_id bigint default null,
  p_now timestamptz default now(),
  p_lease_token bigint default null,
  p_horizon_ms integer default 1000,
  p_shift_ms integer default 0,
  p_give_back jsonb default null
)
returns table (
  call_id bigint,
  campaign_id bigint,
  contact_id bigint,
  attempt integer,
  to_phone text,
  caller_id text,
  provider text,
  provider_settings jsonb,
  release_reason text,
  provider_account text,
  send_at timestamptz,
  contact_name text,
  account_sid text,
  bucket_until timestamptz
)
language plpgsql
set search_path = ''
-- Generic plans from the first call: planning the claim's statement afresh (a custom plan, which
-- PL/pgSQL makes for a session's first five calls and whenever it estimates a generic one costlier)
-- cost more CPU than running it for a small batch. Safe here: the candidates are locked first, in
-- a statement that walks calls_queued_idx in order under any plan, and the claim's statement reads
-- only them (an array of ids: nested loops over primary keys under any plan); the foreign-key checks
-- of the calls it claims (dispatch_run_id) keep their one cached plan.
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_settings public.scheduler_settings;
  v_blocked bigint[];
  v_ids bigint[];
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'p_limit must be at least 1, got %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  if p_horizon_ms is null or p_horizon_ms < 0 or p_horizon_ms > 600000 then
    raise exception 'p_horizon_ms must be between 0 and 600000, got %', p_horizon_ms using errcode = 'invalid_parameter_value';
  end if;
  if p_shift_ms is null or p_shift_ms < 0 or p_shift_ms > 10000 then
    raise exception 'p_shift_ms must be between 0 and 10000, got %', p_shift_ms using errcode = 'invalid_parameter_value';
  end if;
  if p_give_back is not null and pg_catalog.jsonb_typeof(p_give_back) <> 'array' then
    raise exception 'p_give_back must be a JSON array of {"account", "until", "ms"}, got %', p_give_back
      using errcode = 'invalid_parameter_value';
  end if;
  -- Fencing: a dispatcher that passes its 'dispatch' lease token claims nothing once the lease is
  -- no longer its own (expired, released, taken over) at p_now.
  if p_lease_token is not null and not public._scheduler_lease_is_held('dispatch', p_lease_token, p_now) then
    raise exception 'dispatch lease lost: token % no longer holds the ''dispatch'' lease at %', p_lease_token, p_now
      using errcode = 'SL001', hint = 'Another dispatcher took over; stop claiming.';
  end if;
  v_settings := public._settings();
  -- The whole scheduler paused (set_scheduler_paused()): claim nothing; the calls stay queued.
  if v_settings.paused_at is not null then
    return;
  end if;
  v_blocked := public._dispatch_blocked_campaigns(p_now, v_settings.breaker_cooldown);
  -- The rate buckets: every dispatcher's claim serialises here, on the account rows, in id order
  -- (a short wait: one statement), so two claims never hand out the same slot.
  perform 1 from public.provider_accounts a order by a.id for update;
  -- The shift the caller's previous claim did not use, back to each bucket nobody drew on since.
  if p_give_back is not null then
    update public.provider_accounts a
       set next_send_at = a.next_send_at - g.ms * interval '1 millisecond'
      from pg_catalog.jsonb_to_recordset(p_give_back) as g (account text, until timestamptz, ms numeric)
     where a.id = g.account
       and a.next_send_at = g.until
       and g.ms > 0 and g.ms <= 10000;
  end if;

  -- The candidates, locked (SKIP LOCKED: what another claim holds is left to it) in queue order.
  select coalesce(pg_catalog.array_agg(q.id), '{}') into v_ids
    from (select cl.id
            from public.calls cl
           where cl.status = 'queued'
             and cl.dispatch_after <= p_now
             -- The calls of an account whose circuit breaker is open (or probing) stay queued.
             and cl.campaign_id <> all (v_blocked)
           order by cl.dispatch_after, cl.id
           limit p_limit
             for update skip locked) q;
  if pg_catalog.cardinality(v_ids) = 0 then
    return;
  end if;

  return query
  with candidates as (
    select u.id from pg_catalog.unnest(v_ids) as u (id)
  ),
  zoned as (
    -- The zones in which each candidate's calling-hours rules are checked (calling_hours_zones()).
    select k.id, hz.time_zones as zones, hz.zone_source, hz.number_prefix, c.purpose
      from candidates k
      join public.calls cl on cl.id = k.id
      join public.contacts ct on ct.id = cl.contact_id
      join public.campaigns c on c.id = cl.campaign_id
     cross join lateral public.calling_hours_zones(cl.to_phone, ct.time_zone, c.time_zone) as hz
  ),
  closed_hours as materialized (
    -- The prefixes the rules close at p_now, once per zone a candidate is in ({zone: [prefix, ...]};
    -- an unknown zone gets ['']): a number of the +1 plan without a known area code is in 42 zones,
    -- and evaluating the rules per call and zone cost milliseconds per call. One row per campaign
    -- purpose among the candidates (null among them): only the rules covering it count.
    select p.purpose, public.closed_calling_hours_by_zone(p_now, array(
             select distinct u.zone from zoned z cross join pg_catalog.unnest(z.zones) as u (zone)), p.purpose) as closed
      from (select distinct z.purpose from zoned z) p
  ),
  rule_len as (
    select coalesce(max(pg_catalog.length(r.prefix)), 0) as len from public.calling_hours_rules r where r.enabled
  ),
  rule_sets as materialized (
    -- The enabled rules that match a number and cover a purpose, for the dial evidence: once per
    -- distinct start of the candidates' numbers (as long as the longest enabled rule prefix: a
    -- rule matches a number exactly when it matches that start) and purpose, not once per call.
    select s.number_start, s.purpose,
           (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', r.id, 'prefix', r.prefix,
                                                                 'from', r.start_time, 'until', r.end_time)
                                       order by r.id)
              from public.calling_hours_rules r
             where r.enabled
               and pg_catalog.starts_with(s.number_start, r.prefix)
               and (s.purpose is null or r.purposes is null or s.purpose = any (r.purposes))) as rules
      from (select distinct pg_catalog.left(cl.to_phone, l.len) as number_start, z.purpose
              from zoned z
              join public.calls cl on cl.id = z.id
             cross join rule_len l) s
  ),
  checked as (
    select cl.id, cl.campaign_id, cl.contact_id, cl.attempt, cl.to_phone, cl.dispatch_after, c.caller_id,
           c.provider, c.provider_settings, c.provider_account, ct.name as contact_name,
           (select a.account_sid from public.provider_accounts a where a.id = c.provider_account) as account_sid,
           case
             when c.status not in ('QUEUED', 'RUNNING') then 'campaign is ' || lower(c.status::text)
             when c.set_up_problem is not null then 'malformed campaign: ' || c.set_up_problem
             when c.starts_at > p_now then 'campaign has not started'
             when c.ends_at <= p_now then 'campaign has ended'
             when exists (select 1 from public.do_not_call_numbers d where d.phone = cl.to_phone)
               then 'number is on the do-not-call list'
             -- A scheduled callback is called even with the attempts used (the person asked).
             when ct.attempts >= c.max_attempts and ct.callback_at is null then 'max attempts reached'
             when c.requires_consent
                  and not (ct.consent_at is not null and ct.consent_at <= p_now
                           and (ct.consent_expires_at is null or ct.consent_expires_at > p_now))
               then 'no valid consent'
             when cl.queued_at < p_now - v_settings.queued_call_ttl then 'waited in queue longer than queued_call_ttl'
             when not public.is_within_calling_window(p_now, coalesce(ct.time_zone, c.time_zone),
                                                      c.window_start, c.window_end, c.window_days)
               then 'outside calling window'
             -- The law's hours in every zone of the called party (calling_hours_zones()); a zone
             -- missing from the map (null) never dials.
             when exists (select 1
                            from pg_catalog.unnest(z.zones) as tz (zone)
                            cross join pg_catalog.jsonb_array_elements_text(
                                         coalesce((select h.closed from closed_hours h where h.purpose is not distinct from z.purpose) -> tz.zone,
                                                  '[""]'::jsonb)) as cp (prefix)
                           where pg_catalog.starts_with(cl.to_phone, cp.prefix))
               then 'outside calling hours'
           end as release_reason,
           -- What allows the call (calls.dial_evidence, written when it is claimed): the zones its
           -- rules were checked in and where they came from (their local times follow from
           -- checked_at), the enabled rules that match its number and cover its campaign's purpose
           -- (rule_sets), and the contact's consent record as it stood.
           pg_catalog.jsonb_build_object(
             'checked_at', p_now,
             'zone_source', z.zone_source,
             'number_prefix', z.number_prefix,
             'zones', pg_catalog.to_jsonb(z.zones),
             'rules', coalesce(rs.rules, '[]'::jsonb),
             'consent_required', c.requires_consent,
             'consent', case when ct.consent_at is not null then pg_catalog.jsonb_build_object(
                          'at', ct.consent_at, 'method', ct.consent_method, 'source', ct.consent_source,
                          'expires_at', ct.consent_expires_at) end
           ) as evidence
      from candidates k
      join zoned z on z.id = k.id
      join public.calls cl on cl.id = k.id
      join public.contacts ct on ct.id = cl.contact_id
      join public.campaigns c on c.id = cl.campaign_id
     cross join rule_len l
      left join rule_sets rs on rs.number_start = pg_catalog.left(cl.to_phone, l.len)
                            and rs.purpose is not distinct from z.purpose
  ),
  slotted as (
    -- The n-th call of an account in this claim goes n - 1 intervals after the bucket's next slot.
    select k.id, k.contact_id, k.provider_account, k.evidence, b.interval_ms,
           greatest(b.next_send_at, p_now)
             + (row_number() over (partition by k.provider_account order by k.dispatch_after, k.id) - 1)
               * b.interval_ms * interval '1 millisecond' as send_at
      from checked k
      join (select a.id, a.next_send_at,
                   (1000 + v_settings.rate_margin_ms)::numeric
                     / coalesce(a.calls_per_second, v_settings.provider_calls_per_second) as interval_ms
              from public.provider_accounts a) b on b.id = k.provider_account
     where k.release_reason is null
  ),
  due as (
    select s.* from slotted s
     where s.send_at <= p_now + greatest(p_horizon_ms, s.interval_ms) * interval '1 millisecond'
  ),
  ends as (
    -- Each account's bucket after this claim: a slot after its last slot, plus the shift.
    select d.provider_account,
           max(d.send_at) + (max(d.interval_ms) + p_shift_ms) * interval '1 millisecond' as bucket_until
      from due d group by d.provider_account
  ),
  buckets as (
    update public.provider_accounts a
       set next_send_at = e.bucket_until, updated_at = p_now
      from ends e
     where a.id = e.provider_account
  ),
  claimed as (
    update public.calls cl
       set status = 'dialing', dialed_at = p_now, dispatch_run_id = p_run_id, updated_at = p_now,
           dial_evidence = k.evidence
      from due k
     where cl.id = k.id
    returning cl.id, cl.contact_id
  ),
  released as (
    update public.calls cl
       set status = 'canceled', released_at = p_now, ended_at = p_now, updated_at = p_now,
           error = 'released before dialling: ' || k.release_reason
      from checked k
     where cl.id = k.id and k.release_reason is not null
    returning cl.id, cl.contact_id, k.release_reason
  ),
  contacts_claimed as (
    update public.contacts ct
       set attempts = ct.attempts + 1, updated_at = p_now
      from claimed k
     where ct.id = k.contact_id
    returning ct.id
  ),
  contacts_released as (
    update public.contacts ct
       set status = case
                      when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                        then 'do_not_call'::public.contact_status
                      when r.release_reason = 'max attempts reached' then 'exhausted'::public.contact_status
                      else 'pending'::public.contact_status
                    end,
           last_error = 'call released before dialling: ' || r.release_reason,
           updated_at = p_now
      from released r
     where ct.id = r.contact_id
       and ct.status = 'in_progress'
    returning ct.id
  )
  select k.id, k.campaign_id, k.contact_id, k.attempt, k.to_phone, k.caller_id, k.provider,
         k.provider_settings, k.release_reason, k.provider_account, d.send_at, k.contact_name, k.account_sid,
         e.bucket_until
    from checked k
    left join due d on d.id = k.id
    left join ends e on e.provider_account = d.provider_account
   where k.release_reason is not null or d.id is not null
   order by d.send_at nulls first, k.id;
end;
$$;

comment on function public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb) is
  'Claims up to p_limit queued calls for dialling (FOR UPDATE SKIP LOCKED): re-checks campaign status, starts_at / ends_at, do-not-call, max attempts, queue age, calling window and calling_hours_rules (in every zone of the called party: calling_hours_zones(); the rules covering the campaign''s purpose, all when it has none); releases the calls that fail a check (not an attempt) and moves the rest to dialing (attempts + 1), each with a send slot (send_at) from its provider account''s rate bucket, shared by every dispatcher; calls whose slot would fall later than greatest(p_horizon_ms, the account''s slot interval) after p_now stay queued; no slot is earlier than p_now. Each account''s slots may be sent up to p_shift_ms late, by a shift that never decreases along the claim; the bucket keeps that time (bucket_until: the account''s next_send_at after the claim), and p_give_back ([{"account", "until", "ms"}]) returns the unused part from a bucket still at until. Returns each call claimed (release_reason null, send_at set) or released (release_reason set). A call is claimed at most once. With p_lease_token, claims nothing and raises SQLSTATE SL001 (dispatch lease lost) unless that token holds the ''dispatch'' lease at p_now.';

revoke all on function public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb) from public, anon, authenticated;
grant execute on function public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb) to service_role;
