-- The life of a call after launch_due_calls() reserved it:
--
--   queued --claim_queued_calls()--> dialing --record_dispatch_results()--> dialing (accepted) | unknown | failed
--      ^                               |                                   (retryable: back to queued, not an attempt)
--      +-------------------------------+
--   dialing/unknown --apply_call_status() (provider callback)--> ringing --> in_progress --> final
--   dialing/unknown/ringing/in_progress --expire_stuck_calls() (reaper)--> failed
--   queued --claim/release_stale_queued_calls()--> canceled + released_at (not an attempt)
--
-- A call never moves backwards (see _call_status_rank), and only claim_queued_calls() moves a call
-- to dialing, once: a reserved call is sent to the provider at most once.

create function public._call_status_rank(p_status public.call_status)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case p_status
    when 'queued' then 0
    when 'unknown' then 1   -- any news from the provider beats "we do not know"
    when 'dialing' then 2
    when 'ringing' then 3
    when 'in_progress' then 4
    else 5                  -- completed, busy, no_answer, failed, canceled
  end
$$;

create function public._is_final_call_status(p_status public.call_status)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$ select p_status in ('completed', 'busy', 'no_answer', 'failed', 'canceled') $$;

-- After a call reached a final status: end the contact (done / invalid / do_not_call when its number
-- was listed meanwhile / exhausted) or schedule its next attempt by the campaign's retry rule for
-- the call's outcome (busy, no answer, machine (p_machine: answered by a machine under the 'retry'
-- policy), failed: canceled counts as failed): tried again only while attempts remain and the rule
-- says so, at the rule's delay after p_now (the call's end). A callback scheduled while the call
-- was reserved or in progress (callback_at after the call was queued) wins over all of this but
-- an invalid number and the do-not-call list: the contact waits for it. A callback the call was
-- placed for (callback_at at or before its queued_at) is cleared. Idempotent: only a contact still
-- in_progress with no other active call changes.
create function public._settle_contact(
  p_contact_id bigint,
  p_call_status public.call_status,
  p_invalid_number boolean,
  p_error text,
  p_now timestamptz,
  p_machine boolean default false
)
returns void
language sql
set search_path = ''
as $$
  update public.contacts ct
     set status = case
                    when p_invalid_number then 'invalid'::public.contact_status
                    when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                     and (p_call_status <> 'completed' or ct.callback_at > lc.queued_at)
                      then 'do_not_call'::public.contact_status
                    when ct.callback_at > lc.queued_at then 'pending'::public.contact_status
                    when p_call_status = 'completed' and not p_machine then 'done'::public.contact_status
                    when ct.attempts >= c.max_attempts or not r.retry then 'exhausted'::public.contact_status
                    else 'pending'::public.contact_status
                  end,
         next_attempt_at = case
                             when p_invalid_number then ct.next_attempt_at
                             when ct.callback_at > lc.queued_at then ct.callback_at
                             when (p_call_status = 'completed' and not p_machine)
                               or ct.attempts >= c.max_attempts or not r.retry
                               then ct.next_attempt_at
                             else p_now + r.delay
                           end,
         callback_at = case when ct.callback_at > lc.queued_at and not p_invalid_number then ct.callback_at end,
         last_call_status = p_call_status,
         last_error = case
                        when p_call_status <> 'completed' and not p_invalid_number
                         and exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                          then 'number is on the do-not-call list'
                        when not p_invalid_number and not (p_call_status = 'completed' and not p_machine)
                         and not r.retry and ct.attempts < c.max_attempts
                         and not coalesce(ct.callback_at > lc.queued_at, false)
                          then coalesce(p_error || ': ', '') || 'not retried (the campaign''s rule for ' || r.kind || ')'
                        else p_error
                      end,
         updated_at = p_now
    from public.campaigns c
   cross join lateral (
     select k.kind,
            case k.kind when 'busy' then c.retry_busy when 'no answer' then c.retry_no_answer
                        when 'machine' then true else c.retry_failed end as retry,
            case k.kind when 'busy' then c.retry_busy_delay when 'no answer' then c.retry_no_answer_delay
                        when 'machine' then c.retry_machine_delay else c.retry_failed_delay end as delay
       from (select case when p_machine then 'machine'
                         when p_call_status = 'busy' then 'busy'
                         when p_call_status = 'no_answer' then 'no answer'
                         else 'failed' end as kind) k
   ) r
   cross join lateral (
     -- When the contact's latest call was reserved: a callback set after it is still to come.
     select max(cl.queued_at) as queued_at from public.calls cl where cl.contact_id = p_contact_id
   ) lc
   where ct.id = p_contact_id
     and c.id = ct.campaign_id
     and ct.status = 'in_progress'
     and not exists (
       select 1 from public.calls cl
        where cl.contact_id = ct.id
          and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress'))
$$;

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
-- No plan_cache_mode = force_custom_plan: the setting would reach the foreign-key checks of the
-- calls it claims (dispatch_run_id) and re-plan each of them. The statement walks calls_queued_idx
-- in order under any plan.
as $$
#variable_conflict use_column
declare
  v_settings public.scheduler_settings;
  v_blocked bigint[];
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

  return query
  with candidates as (
    select cl.id
      from public.calls cl
     where cl.status = 'queued'
       and cl.dispatch_after <= p_now
       -- The calls of an account whose circuit breaker is open (or probing) stay queued.
       and cl.campaign_id <> all (v_blocked)
     order by cl.dispatch_after, cl.id
     limit p_limit
       for update skip locked
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

-- apply_call_status(): a provider status callback. Finds the call by our id (carried in the
-- callback URL) or by the provider's call id, ignores stale or duplicate news (a call never moves
-- backwards), frees the slot on a final status and settles the contact. Returns 'applied',
-- 'ignored' (duplicate / out of order), 'not_found', 'mismatch' (our id and the provider's id
-- disagree) or 'wrong_account'.
-- p_account_sid: the provider account the callback comes from (its AccountSid, which the signature
-- was verified for; null: the main account, the functions' TWILIO_ACCOUNT_SID). It must be the
-- call's own account (its campaign's provider account's account_sid, null for the main account):
-- otherwise 'wrong_account' and nothing changes, so the holder of one subaccount's token cannot
-- move another account's calls.
create function public.apply_call_status(
  p_call_id bigint,
  p_provider text,
  p_provider_call_id text,
  p_status public.call_status,
  p_duration_seconds integer default null,
  p_error_code text default null,
  p_now timestamptz default now(),
  p_answered_by text default null,
  p_account_sid text default null
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_call public.calls;
  v_answered_by text := left(nullif(btrim(p_answered_by), ''), 64);
  v_machine boolean;
begin
  if p_status is null or p_status = 'queued' or p_status = 'unknown' then
    raise exception 'a status callback cannot set status %', coalesce(p_status::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  if p_call_id is not null then
    select * into v_call from public.calls where id = p_call_id for update;
  else
    select * into v_call from public.calls
     where provider = p_provider and provider_call_id = p_provider_call_id
       for update;
  end if;
  if not found then
    return 'not_found';
  end if;
  if (select a.account_sid
        from public.campaigns c
        join public.provider_accounts a on a.id = c.provider_account
       where c.id = v_call.campaign_id) is distinct from p_account_sid then
    return 'wrong_account';
  end if;
  -- Found by our id: the news must come from the platform the call went to (a Vapi secret cannot
  -- move a Twilio call).
  if v_call.provider is distinct from p_provider then
    return 'wrong_account';
  end if;
  if v_call.provider_call_id is not null and p_provider_call_id is not null
     and v_call.provider_call_id <> p_provider_call_id then
    return 'mismatch';
  end if;
  if v_call.released_at is not null
     or public._is_final_call_status(v_call.status)
     or public._call_status_rank(p_status) <= public._call_status_rank(v_call.status) then
    if v_call.provider_call_id is null and p_provider_call_id is not null and v_call.released_at is null then
      update public.calls set provider_call_id = p_provider_call_id, updated_at = p_now where id = v_call.id;
    end if;
    return 'ignored';
  end if;

  if v_call.status = 'queued' then
    -- The provider knows this call although we put it back in the queue (a 429 that was not one):
    -- it was dialled, so it counts as an attempt and is never dialled again.
    update public.contacts set attempts = attempts + 1, updated_at = p_now where id = v_call.contact_id;
  end if;

  update public.calls
     set status = p_status,
         provider_call_id = coalesce(provider_call_id, p_provider_call_id),
         dialed_at = coalesce(dialed_at, p_now),
         ringing_at = case when p_status = 'ringing' then coalesce(ringing_at, p_now) else ringing_at end,
         answered_at = case when p_status = 'in_progress' then coalesce(answered_at, p_now) else answered_at end,
         ended_at = case when public._is_final_call_status(p_status) then p_now else null end,
         duration_seconds = coalesce(p_duration_seconds, duration_seconds),
         answered_by = coalesce(v_answered_by, answered_by),
         error_code = coalesce(p_error_code, error_code),
         error = case when v_call.status = 'unknown' and not public._is_final_call_status(p_status) then null else error end,
         updated_at = p_now
   where id = v_call.id;

  if public._is_final_call_status(p_status) then
    -- A completed call answered by a machine reached no person: with the campaign's 'retry' policy
    -- the contact is settled like a no-answer (tried again while attempts remain). Any other
    -- AnsweredBy (human, unknown, a value we do not know) counts as a person reached.
    v_machine := p_status = 'completed'
      and coalesce(v_answered_by, v_call.answered_by) in
          ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax')
      and exists (select 1 from public.campaigns c where c.id = v_call.campaign_id and c.machine_answer_policy = 'retry');
    if v_machine then
      perform public._settle_contact(v_call.contact_id, 'no_answer', false,
        'answered by a machine (' || coalesce(v_answered_by, v_call.answered_by) || '): tried again later', p_now, true);
    else
      perform public._settle_contact(v_call.contact_id, p_status, false,
        case when p_status = 'completed' then null else 'call ended ' || p_status::text end, p_now);
    end if;
  end if;
  return 'applied';
end;
$$;

comment on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) is
  'Applies a provider status callback to a call (found by our id, else by provider call id). Idempotent and order-safe: duplicates and stale statuses are ignored; a final status frees the slot and schedules the contact''s next attempt or ends it. p_answered_by (the provider''s AnsweredBy) is stored on the call; a completed call answered by a machine is retried like a no-answer when the campaign''s machine_answer_policy is retry. p_account_sid (the callback''s AccountSid; null: the main account) must be the call''s own account (its campaign''s provider_accounts.account_sid), and p_provider the call''s provider, else nothing changes. Returns applied / ignored / not_found / mismatch / wrong_account.';

-- expire_stuck_calls(): the reaper. Calls stuck in dialing/unknown past stuck_call_timeout (lost
-- callback, crashed function) and calls ringing/in progress past max_call_duration become failed:
-- the slot is freed and the attempt counts; the contact is retried if attempts remain.
create function public.expire_stuck_calls(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_call record;
  v_count integer := 0;
begin
  v_settings := public._settings();
  for v_call in
    with stuck as (
      select cl.id
        from public.calls cl
       where (cl.status in ('dialing', 'unknown') and cl.dialed_at < p_now - v_settings.stuck_call_timeout)
          or (cl.status in ('ringing', 'in_progress') and cl.dialed_at < p_now - v_settings.max_call_duration)
       order by cl.dialed_at
         for update skip locked
    )
    update public.calls cl
       set status = 'failed', ended_at = p_now, updated_at = p_now,
           error = 'expired: no final status from the provider after '
                   || case when cl.status in ('dialing', 'unknown') then v_settings.stuck_call_timeout
                           else v_settings.max_call_duration end::text
      from stuck s
     where cl.id = s.id
    returning cl.contact_id
  loop
    perform public._settle_contact(v_call.contact_id, 'failed', false, 'call expired without a final status', p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

comment on function public.expire_stuck_calls(timestamptz) is
  'Reaper: calls in dialing/unknown older than scheduler_settings.stuck_call_timeout, or ringing/in_progress older than max_call_duration, become failed (slot freed, attempt counted, contact retried if attempts remain). Returns how many.';

-- release_stale_queued_calls(): queued calls that no dispatcher took within queued_call_ttl, or
-- whose campaign is no longer QUEUED/RUNNING, go back to their contact without counting an attempt.
create function public.release_stale_queued_calls(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_count integer;
begin
  v_settings := public._settings();
  with stale as (
    select cl.id, case when c.status not in ('QUEUED', 'RUNNING') then 'campaign is ' || lower(c.status::text)
                       else 'waited in queue longer than queued_call_ttl' end as reason
      from public.calls cl
      join public.campaigns c on c.id = cl.campaign_id
     where cl.status = 'queued'
       and (cl.queued_at < p_now - v_settings.queued_call_ttl or c.status not in ('QUEUED', 'RUNNING'))
       for update of cl skip locked
  ),
  released as (
    update public.calls cl
       set status = 'canceled', released_at = p_now, ended_at = p_now, updated_at = p_now,
           error = 'released before dialling: ' || s.reason
      from stale s
     where cl.id = s.id
    returning cl.contact_id, s.reason
  ),
  contacts_released as (
    update public.contacts ct
       set status = case when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                         then 'do_not_call'::public.contact_status
                         else 'pending'::public.contact_status end,
           last_error = 'call released before dialling: ' || r.reason, updated_at = p_now
      from released r
     where ct.id = r.contact_id and ct.status = 'in_progress'
    returning ct.id
  )
  select count(*)::integer into v_count from released;
  return v_count;
end;
$$;

comment on function public.release_stale_queued_calls(timestamptz) is
  'Releases queued calls older than scheduler_settings.queued_call_ttl, or of campaigns no longer QUEUED/RUNNING: canceled with released_at, contact back to pending, no attempt counted. Returns how many.';

revoke all on function public._call_status_rank(public.call_status) from public, anon, authenticated;
revoke all on function public._is_final_call_status(public.call_status) from public, anon, authenticated;
revoke all on function public._settle_contact(bigint, public.call_status, boolean, text, timestamptz, boolean) from public, anon, authenticated;
revoke all on function public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb) from public, anon, authenticated;
revoke all on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) from public, anon, authenticated;
revoke all on function public.expire_stuck_calls(timestamptz) from public, anon, authenticated;
revoke all on function public.release_stale_queued_calls(timestamptz) from public, anon, authenticated;
grant execute on function public._call_status_rank(public.call_status) to service_role;
grant execute on function public._is_final_call_status(public.call_status) to service_role;
grant execute on function public._settle_contact(bigint, public.call_status, boolean, text, timestamptz, boolean) to service_role;
grant execute on function public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb) to service_role;
grant execute on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) to service_role;
grant execute on function public.expire_stuck_calls(timestamptz) to service_role;
grant execute on function public.release_stale_queued_calls(timestamptz) to service_role;

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
