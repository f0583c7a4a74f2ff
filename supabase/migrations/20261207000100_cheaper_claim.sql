-- A cheaper claim and record: the same checks, rows and results as before, with the per-row calls
-- of helper functions written out or made once per claim. Every function here pins its
-- search_path, and PostgreSQL never inlines a function that sets a parameter: called once per
-- row, such a function runs its own executor (a SQL function) or interpreter and a parameter
-- save and restore each time, which cost more than the work it does (docs/performance.md,
-- "Dispatch").
--
-- claim_queued_calls(): the zones of each candidate (calling_hours_zones() and phone_prefix_zone())
-- are computed inline in the claim's statement, by the same policy and the same longest-prefix
-- lookup; the calling window (is_within_calling_window()) is evaluated once per campaign and zone
-- among the candidates instead of once per call.
create or replace function public.claim_queued_calls(
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
  with zoned as materialized (
    -- Each candidate with what its checks read (its call, contact and campaign, read once), and the
    -- zones in which its calling-hours rules are checked: calling_hours_zones(), written out here
    -- (called per candidate, it and phone_prefix_zone() cost more than the rest of the checks). n is
    -- the number's longest prefix listed in phone_prefix_zones, as phone_prefix_zone() finds it:
    -- the greatest listed prefix <= the number when it is a prefix of it (one index probe), else
    -- the longest of the number's starts that is listed. number_start: the number's start as long
    -- as the longest enabled rule prefix (a rule, open or closed, matches a number exactly when it
    -- matches that start).
    select cl.id, cl.campaign_id, cl.contact_id, cl.attempt, cl.to_phone, cl.dispatch_after, cl.queued_at,
           c.caller_id, c.provider, c.provider_settings, c.provider_account, c.status as campaign_status,
           c.set_up_problem, c.starts_at, c.ends_at, c.max_attempts, c.requires_consent, c.purpose,
           ct.name as contact_name, ct.attempts as contact_attempts, ct.callback_at, ct.consent_at,
           ct.consent_method, ct.consent_source, ct.consent_expires_at,
           coalesce(ct.time_zone, c.time_zone) as window_zone,
           case when n.time_zones is null then array[coalesce(ct.time_zone, c.time_zone)]
                when ct.time_zone is null then n.time_zones
                when ct.time_zone = any (n.time_zones) then array[ct.time_zone]
                else n.time_zones || ct.time_zone end as zones,
           case when n.time_zones is null then case when ct.time_zone is null then 'campaign' else 'contact' end
                when ct.time_zone is null then 'number'
                when ct.time_zone = any (n.time_zones) then 'contact'
                else 'contact+number' end as zone_source,
           n.prefix as number_prefix,
           pg_catalog.left(cl.to_phone, l.len) as number_start
      from public.calls cl
      join public.contacts ct on ct.id = cl.contact_id
      join public.campaigns c on c.id = cl.campaign_id
     cross join (select coalesce(max(pg_catalog.length(r.prefix)), 0) as len
                   from public.calling_hours_rules r where r.enabled) l
      left join lateral (
             (select g.prefix, g.time_zones
                from (select z.prefix, z.time_zones
                        from public.phone_prefix_zones z
                       where z.prefix <= cl.to_phone and pg_catalog.length(cl.to_phone) >= 2
                       order by z.prefix desc
                       limit 1) g
               where pg_catalog.starts_with(cl.to_phone, g.prefix))
             union all
             (select z.prefix, z.time_zones
                from public.phone_prefix_zones z
               where z.prefix in (pg_catalog.left(cl.to_phone, 2), pg_catalog.left(cl.to_phone, 3),
                                  pg_catalog.left(cl.to_phone, 4), pg_catalog.left(cl.to_phone, 5),
                                  pg_catalog.left(cl.to_phone, 6), pg_catalog.left(cl.to_phone, 7),
                                  pg_catalog.left(cl.to_phone, 8), pg_catalog.left(cl.to_phone, 9),
                                  pg_catalog.left(cl.to_phone, 10), pg_catalog.left(cl.to_phone, 11),
                                  pg_catalog.left(cl.to_phone, 12), pg_catalog.left(cl.to_phone, 13),
                                  pg_catalog.left(cl.to_phone, 14), pg_catalog.left(cl.to_phone, 15),
                                  pg_catalog.left(cl.to_phone, 16))
                 and pg_catalog.length(cl.to_phone) >= 2
               order by pg_catalog.length(z.prefix) desc
               limit 1)
             limit 1) n on true
     where cl.id = any (v_ids)
  ),
  windows as materialized (
    -- The calling window, once per campaign and zone among the candidates rather than per call
    -- (is_within_calling_window() opens a subtransaction each time it runs).
    select w.campaign_id, w.window_zone,
           public.is_within_calling_window(p_now, w.window_zone, c.window_start, c.window_end, c.window_days) as open
      from (select distinct z.campaign_id, z.window_zone from zoned z) w
      join public.campaigns c on c.id = w.campaign_id
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
  starts as materialized (
    -- Once per distinct start of the candidates' numbers, purpose and zones, not once per call:
    -- whether the law's hours close the number in one of its zones (a zone missing from the map,
    -- null, never dials), and, for the dial evidence, the enabled rules that match the number and
    -- cover the purpose. Every prefix a rule has is no longer than number_start, so a prefix starts
    -- the number exactly when it starts number_start.
    select s.number_start, s.purpose, s.zones,
           exists (select 1
                     from pg_catalog.unnest(s.zones) as tz (zone)
                    cross join pg_catalog.jsonb_array_elements_text(
                                 coalesce((select h.closed from closed_hours h where h.purpose is not distinct from s.purpose) -> tz.zone,
                                          '[""]'::jsonb)) as cp (prefix)
                    where pg_catalog.starts_with(s.number_start, cp.prefix)) as hours_closed,
           (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', r.id, 'prefix', r.prefix,
                                                                 'from', r.start_time, 'until', r.end_time)
                                       order by r.id)
              from public.calling_hours_rules r
             where r.enabled
               and pg_catalog.starts_with(s.number_start, r.prefix)
               and (s.purpose is null or r.purposes is null or s.purpose = any (r.purposes))) as rules
      from (select distinct z.number_start, z.purpose, z.zones from zoned z) s
  ),
  checked as (
    select z.id, z.campaign_id, z.contact_id, z.attempt, z.to_phone, z.dispatch_after, z.caller_id,
           z.provider, z.provider_settings, z.provider_account, z.contact_name,
           (select a.account_sid from public.provider_accounts a where a.id = z.provider_account) as account_sid,
           case
             when z.campaign_status not in ('QUEUED', 'RUNNING') then 'campaign is ' || lower(z.campaign_status::text)
             when z.set_up_problem is not null then 'malformed campaign: ' || z.set_up_problem
             when z.starts_at > p_now then 'campaign has not started'
             when z.ends_at <= p_now then 'campaign has ended'
             when exists (select 1 from public.do_not_call_numbers d where d.phone = z.to_phone)
               then 'number is on the do-not-call list'
             -- A scheduled callback is called even with the attempts used (the person asked).
             when z.contact_attempts >= z.max_attempts and z.callback_at is null then 'max attempts reached'
             when z.requires_consent
                  and not (z.consent_at is not null and z.consent_at <= p_now
                           and (z.consent_expires_at is null or z.consent_expires_at > p_now))
               then 'no valid consent'
             when z.queued_at < p_now - v_settings.queued_call_ttl then 'waited in queue longer than queued_call_ttl'
             when not w.open then 'outside calling window'
             -- The law's hours in every zone of the called party (calling_hours_zones()).
             when st.hours_closed then 'outside calling hours'
           end as release_reason,
           -- What allows the call (calls.dial_evidence, written when it is claimed): the zones its
           -- rules were checked in and where they came from (their local times follow from
           -- checked_at), the enabled rules that match its number and cover its campaign's purpose
           -- (starts), and the contact's consent record as it stood.
           pg_catalog.jsonb_build_object(
             'checked_at', p_now,
             'zone_source', z.zone_source,
             'number_prefix', z.number_prefix,
             'zones', pg_catalog.to_jsonb(z.zones),
             'rules', coalesce(st.rules, '[]'::jsonb),
             'consent_required', z.requires_consent,
             'consent', case when z.consent_at is not null then pg_catalog.jsonb_build_object(
                          'at', z.consent_at, 'method', z.consent_method, 'source', z.consent_source,
                          'expires_at', z.consent_expires_at) end
           ) as evidence
      from zoned z
      join windows w on w.campaign_id = z.campaign_id and w.window_zone = z.window_zone
      join starts st on st.number_start = z.number_start and st.zones = z.zones
                    and st.purpose is not distinct from z.purpose
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

-- record_dispatch_results(): the set-based path for accepted answers tests final statuses and
-- compares status ranks inline (_is_final_call_status() and _call_status_rank() written out); the
-- lock of the calls, the checks that they exist and went to p_provider, and their provider
-- accounts (for the breaker) are one statement. The accounts are read before the answers are
-- recorded rather than after: nothing recording an answer changes a call's campaign or a
-- campaign's provider account.
create or replace function public.record_dispatch_results(
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
  v_bad_provider_ord bigint;
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

  -- The calls locked in id order, and in the same statement (one reading of the calls instead of
  -- four): the first one missing, the first one sent to another provider, and each call's provider
  -- account in input order (the calls whose campaign is missing left out, as an inner join would).
  with locked as materialized (
    select cl.id, cl.provider, cl.campaign_id
      from public.calls cl
     where cl.id = any (v_ids)
     order by cl.id
       for update
  )
  select min(r.ord) filter (where l.id is null),
         min(r.ord) filter (where l.id is not null and l.provider is distinct from p_provider),
         array_agg(c.provider_account order by r.ord) filter (where c.id is not null)
    into v_bad_ord, v_bad_provider_ord, v_accounts
    from unnest(v_ids) with ordinality as r(id, ord)
    left join locked l on l.id = r.id
    left join public.campaigns c on c.id = l.campaign_id;
  if v_bad_ord is not null then
    raise exception 'call % does not exist', v_ids[v_bad_ord] using errcode = 'no_data_found';
  end if;
  v_bad_ord := v_bad_provider_ord;
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
                 and (r.status is null or not (r.status in ('completed', 'busy', 'no_answer', 'failed', 'canceled')))
                 and count(*) over (partition by r.id) = 1 as fast
            from unnest(v_ids, v_outcomes, v_statuses) with ordinality as r(id, outcome, status, ord)) f;

  update public.calls cl
     set provider_call_id = coalesce(cl.provider_call_id, r.provider_call_id),
         provider_accepted_at = coalesce(cl.provider_accepted_at, r.at),
         -- _is_final_call_status() and _call_status_rank(), written out: called per row they cost
         -- more than the rest of the update (a SQL function with its own search_path is never
         -- inlined).
         status = case
                    when not (cl.status in ('completed', 'busy', 'no_answer', 'failed', 'canceled'))
                     and case coalesce(r.status, 'dialing')
                           when 'queued' then 0 when 'unknown' then 1 when 'dialing' then 2
                           when 'ringing' then 3 when 'in_progress' then 4 else 5
                         end
                       > case cl.status
                           when 'queued' then 0 when 'unknown' then 1 when 'dialing' then 2
                           when 'ringing' then 3 when 'in_progress' then 4 else 5
                         end
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

