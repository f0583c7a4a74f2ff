-- The reservation step of every tick: launch_due_calls() reserves calls (the core, which the
-- benchmark measures alone); reserve_due_calls() runs housekeeping and launch_due_calls() in the
-- caller's transaction and sums up what happened, for run_cron_tick() and the scheduler-tick
-- function alike.
--
-- launch_due_calls():
--
-- Reserves calls (status queued) for due contacts of QUEUED and RUNNING campaigns, set-based, in
-- one transaction, keeping invariants 1-3 (docs/ARCHITECTURE.md):
--   * per-campaign cap and global cap, counted from the rows of active calls (no counters);
--   * one active call per contact (contacts move pending -> in_progress in the same statement),
--     and per phone number across all campaigns (a number with an active call is skipped; a
--     number due in several campaigns is reserved once per tick; index calls_one_active_per_number),
--     and at most scheduler_settings.max_calls_per_number_per_day calls (not released) to a number
--     in any rolling 24 hours across campaigns, when set;
--   * max attempts (a scheduled callback is called even with its attempts used), calling window in the contact's own time zone (else the campaign's; an
--     unknown zone never dials), do-not-call list, only QUEUED/RUNNING campaigns;
--   * consent: a campaign with requires_consent reserves only contacts whose consent is valid at
--     p_now (consent_at <= p_now, consent_expires_at null or after p_now); the others stay pending
--     (and keep the campaign open: consent can still be recorded);
--   * calling-hours rules (calling_hours_rules) in the called party's zones: every zone of the
--     number (phone_prefix_zones), narrowed or widened by the contact's typed zone, else the
--     campaign's (calling_hours_zones(), whose policy the statement writes inline): the call must
--     be allowed in each (strictest wins). Only the rules covering the campaign's purpose count
--     (all of them when it states none): the rules are evaluated once per purpose in use; and a
--     rule's max_calls_per_24h caps the calls (not released) to a number it matches in any
--     rolling 24 hours, across campaigns.
--
-- Concurrency: callers are serialized with a transaction-scoped try-advisory-lock
-- (_lock_key('launch_due_calls')). A second, concurrent call does not wait and does not reserve
-- anything: it returns a single row whose outcome is 'busy' (campaign_id null). Every count below
-- is taken after the lock is held, in statements that start after the previous holder committed,
-- so concurrent ticks can never each see the same free room. Only this function creates active calls; every other
-- writer (dispatcher, callbacks, reaper, pausing) only frees slots. Call it in READ COMMITTED
-- (the default): under REPEATABLE READ the snapshot could predate the previous holder's commit,
-- so the function refuses to run there.

create function public.launch_due_calls(
  p_now timestamptz default now(),
  p_max_campaigns integer default null,
  p_run_id bigint default null
)
returns table (
  campaign_id bigint,
  outcome public.launch_outcome,
  reserved integer,
  active_calls integer,
  max_concurrent_calls integer,
  campaign_status public.campaign_status,
  problem text
)
language plpgsql
set search_path = ''
-- The statement below is cheap per row but estimated expensive at scale: JIT compilation would
-- cost more than it saves (about a second at 10,000 campaigns).
set jit = off
as $$
declare
  v_settings public.scheduler_settings;
  v_max_campaigns integer;
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'launch_due_calls() must run in a READ COMMITTED transaction, not %',
      pg_catalog.current_setting('transaction_isolation')
      using errcode = 'invalid_transaction_state';
  end if;
  if p_max_campaigns is not null and p_max_campaigns < 1 then
    raise exception 'p_max_campaigns must be at least 1, got %', p_max_campaigns
      using errcode = 'invalid_parameter_value';
  end if;

  if not pg_catalog.pg_try_advisory_xact_lock(public._lock_key('launch_due_calls')) then
    return query select null::bigint, 'busy'::public.launch_outcome, 0, 0, 0, null::public.campaign_status,
      null::text;
    return;
  end if;

  v_settings := public._settings();
  v_max_campaigns := coalesce(p_max_campaigns, v_settings.campaigns_per_tick);

  -- One statement, one snapshot taken after the lock is held. Campaigns with room, least
  -- recently served first, priority breaks ties; inside a campaign, due scheduled callbacks first,
  -- then contacts by priority (higher first), then by next_attempt_at (contacts_pending_idx order);
  -- across campaigns the global room is shared round-robin (every campaign's first call before
  -- anyone's second). A campaign with room that reserves nothing, has no active call and no open
  -- contact left becomes COMPLETED (a QUEUED one only once it has contacts, so that a campaign
  -- being filled is not completed under its owner's feet); a campaign with active calls or no
  -- room cannot be finished, so it is never probed.
  -- Run as EXECUTE: planned afresh for this call's clock and limits (a generic plan cached by a
  -- pooled connection could pick the wrong shape at scale), while the foreign-key checks of the
  -- rows it writes keep their cached plans (plan_cache_mode = force_custom_plan on the function
  -- would re-plan each of them: 50,000 reservations cost 0.65 s more).
  return query execute $sql$
  with active as (
    select cl.campaign_id, count(*)::integer as n
      from public.calls cl
     where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
     group by cl.campaign_id
  ),
  windows as materialized (
    -- The calling window once per distinct (zone, window), not once per campaign.
    select h.time_zone, h.window_start, h.window_end, h.window_days, h.window_open
      from (select w.*,
                   public.is_within_calling_window($1, w.time_zone, w.window_start, w.window_end, w.window_days)
                     as window_open
              from (select distinct c.time_zone, c.window_start, c.window_end, c.window_days
                      from public.campaigns c
                     where c.status in ('QUEUED', 'RUNNING')) w
            offset 0) h
  ),
  closed_hours as materialized (
    -- The prefixes the calling-hours rules close ('' = every number), once per zone the
    -- contacts' numbers are in (phone_zones_in_use) or a campaign is in, as one object
    -- {zone: [prefix, ...]} that every due contact tests its zones against (a zone missing from
    -- it is computed for its contact); and the zones where no rule is closed (open) and where the
    -- every-number rule is (shut), as key sets: most numbers are decided by those two lookups.
    -- One row per campaign purpose in use (null among them): only the rules covering it count.
    select m.purpose, m.closed,
           (select coalesce(pg_catalog.jsonb_object_agg(e.key, true), '{}'::jsonb)
              from pg_catalog.jsonb_each(m.closed) e where e.value = '[]'::jsonb) as open,
           (select coalesce(pg_catalog.jsonb_object_agg(e.key, true), '{}'::jsonb)
              from pg_catalog.jsonb_each(m.closed) e where e.value @> '[""]'::jsonb) as shut
      from (select p.purpose, public.closed_calling_hours_by_zone($1, array(
                     select u.zone from public.phone_zones_in_use u
                     union
                     select c.time_zone from public.campaigns c where c.status in ('QUEUED', 'RUNNING')), p.purpose) as closed
              from (select distinct c.purpose from public.campaigns c where c.status in ('QUEUED', 'RUNNING')) p
            -- OFFSET 0: computed once per purpose; pulled up, the call would be repeated for
            -- open and shut (three calls per purpose and tick).
            offset 0) m
  ),
  rule_caps as materialized (
    -- The enabled rules that cap the calls to a number per rolling 24 hours, as one object
    -- {prefix: [{cap, purposes}, ...]} and the lengths of those prefixes: a due contact looks its
    -- number's own prefixes of those lengths up (a lookup per length, not a test per rule).
    select coalesce(pg_catalog.jsonb_object_agg(g.prefix, g.rules), '{}'::jsonb) as by_prefix,
           coalesce(array_agg(distinct length(g.prefix)), '{}'::integer[]) as lengths
      from (select r.prefix,
                   pg_catalog.jsonb_agg(jsonb_build_object('cap', r.max_calls_per_24h, 'purposes', r.purposes)) as rules
              from public.calling_hours_rules r
             where r.enabled and r.max_calls_per_24h is not null
             group by r.prefix) g
  ),
  served as (
    select c.id,
           c.max_concurrent_calls as cap,
           coalesce(a.n, 0) as active_n,
           c.max_attempts,
           c.provider,
           c.provider_account,
           c.status,
           c.window_start,
           c.window_end,
           c.window_days,
           c.time_zone,
           c.set_up_problem as problem,
           c.purpose,
           c.requires_consent,
           -- Past its end: reserves nothing and completes (even when its room is full).
           coalesce(c.ends_at <= $1, false) as ended,
           w.window_open,
           row_number() over (order by c.last_served_at nulls first, c.priority desc, c.id) as serve_rank
      from public.campaigns c
      join windows w
        on w.time_zone = c.time_zone and w.window_start = c.window_start
       and w.window_end = c.window_end and w.window_days = c.window_days
      left join active a on a.campaign_id = c.id
     where c.status in ('QUEUED', 'RUNNING')
       -- Before its start a campaign is not served at all.
       and (c.starts_at is null or c.starts_at <= $1)
       and (c.max_concurrent_calls > coalesce(a.n, 0) or c.ends_at <= $1)
     order by c.last_served_at nulls first, c.priority desc, c.id
     limit $2
  ),
  picked as (
    -- Per campaign, its room's worth of due contacts, each with its rank inside the campaign: one
    -- index probe (a one-time filter on the campaign's window picks which of the two runs).
    select s.id as campaign_id, s.serve_rank, s.provider_account, p.id as contact_id, p.phone, p.rn
      from served s
     cross join lateral (
      select u.id, u.phone,
             row_number() over (order by u.callback desc, u.priority desc, u.next_attempt_at, u.id) as rn
        from (
       (select ct.id, ct.phone, ct.callback_at is not null as callback, ct.priority, ct.next_attempt_at
          from public.contacts ct
         where s.window_open
           and s.problem is null
           and not s.ended
           and ct.campaign_id = s.id
           and ct.status = 'pending'
           and ct.next_attempt_at <= $1
           -- A scheduled callback is called even with its attempts used (the person asked).
           and (ct.attempts < s.max_attempts or ct.callback_at is not null)
           -- Consent, when the campaign requires it: given at or before p_now, not expired.
           and (not s.requires_consent
                or (ct.consent_at <= $1 and (ct.consent_expires_at is null or ct.consent_expires_at > $1)))
           and (ct.time_zone is null
                or public.is_within_calling_window($1, ct.time_zone, s.window_start, s.window_end, s.window_days))
           -- Calling-hours rules in every zone of the called party (strictest wins).
           and (select case when (select h.open from closed_hours h where h.purpose is not distinct from s.purpose) ?& z.zones then true
                            when (select h.shut from closed_hours h where h.purpose is not distinct from s.purpose) ?| z.zones then false
                            else not exists (
                                   select 1
                                     from unnest(z.zones) tz (zone),
                                          jsonb_array_elements_text(
                                            coalesce((select h.closed from closed_hours h where h.purpose is not distinct from s.purpose) -> tz.zone,
                                                     to_jsonb(public.closed_calling_hours_prefixes($1, tz.zone, s.purpose)))) c (prefix)
                                    where starts_with(ct.phone, c.prefix))
                       end
                  -- calling_hours_zones(): the number's zones; the typed zone alone when it is
                  -- one of them or the number has none; both when it is none of them; no data,
                  -- no typed zone: the campaign's.
                  from (select case when n.zones is null then array[coalesce(ct.time_zone, s.time_zone)]
                                    when ct.time_zone is null then n.zones
                                    when ct.time_zone = any (n.zones) then array[ct.time_zone]
                                    else n.zones || ct.time_zone end as zones
                          -- The number's zones (phone_prefix_zone()): the greatest listed prefix
                          -- <= the number, one index probe, is in most cases its longest prefix.
                          from (select (select case when starts_with(ct.phone, g.prefix) then g.time_zones
                                                    else (public.phone_prefix_zone(ct.phone)).time_zones end
                                          from (select p.prefix, p.time_zones from public.phone_prefix_zones p
                                                 where p.prefix <= ct.phone
                                                 order by p.prefix desc
                                                 limit 1) g) as zones
                                offset 0) n) z)
           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
           -- One person, one call: no active call to this number in any campaign.
           and not exists (select 1 from public.calls cl
                            where cl.to_phone = ct.phone
                              and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress'))
           -- The frequency cap across campaigns (null: off; the plan drops the probe then).
           and ($5::integer is null
                or (select count(*) from public.calls cl
                     where cl.to_phone = ct.phone and cl.released_at is null
                       and cl.queued_at >= $1 - interval '24 hours') < $5)
           -- The rules' caps (max_calls_per_24h) on this number, for the campaign's purpose.
           and not exists (select 1
                             from unnest((select rc.lengths from rule_caps rc)) l (n),
                                  jsonb_array_elements((select rc.by_prefix from rule_caps rc) -> left(ct.phone, l.n)) r (rule)
                            where (s.purpose is null or r.rule -> 'purposes' = 'null'::jsonb
                                   or r.rule -> 'purposes' ? s.purpose)
                              and (select count(*) from public.calls cl
                                    where cl.to_phone = ct.phone and cl.released_at is null
                                      and cl.queued_at >= $1 - interval '24 hours') >= (r.rule ->> 'cap')::integer)
         order by ct.callback_at is not null desc, ct.priority desc, ct.next_attempt_at, ct.id
         limit s.cap - s.active_n)
       union all
       -- Outside the campaign's window only contacts with a zone of their own can be due.
       (select ct.id, ct.phone, ct.callback_at is not null as callback, ct.priority, ct.next_attempt_at
          from public.contacts ct
         where not s.window_open
           and s.problem is null
           and not s.ended
           and ct.campaign_id = s.id
           and ct.status = 'pending'
           and ct.time_zone is not null
           and ct.next_attempt_at <= $1
           -- A scheduled callback is called even with its attempts used (the person asked).
           and (ct.attempts < s.max_attempts or ct.callback_at is not null)
           -- Consent, when the campaign requires it: given at or before p_now, not expired.
           and (not s.requires_consent
                or (ct.consent_at <= $1 and (ct.consent_expires_at is null or ct.consent_expires_at > $1)))
           and public.is_within_calling_window($1, ct.time_zone, s.window_start, s.window_end, s.window_days)
           and (select case when (select h.open from closed_hours h where h.purpose is not distinct from s.purpose) ?& z.zones then true
                            when (select h.shut from closed_hours h where h.purpose is not distinct from s.purpose) ?| z.zones then false
                            else not exists (
                                   select 1
                                     from unnest(z.zones) tz (zone),
                                          jsonb_array_elements_text(
                                            coalesce((select h.closed from closed_hours h where h.purpose is not distinct from s.purpose) -> tz.zone,
                                                     to_jsonb(public.closed_calling_hours_prefixes($1, tz.zone, s.purpose)))) c (prefix)
                                    where starts_with(ct.phone, c.prefix))
                       end
                  -- calling_hours_zones(): the number's zones; the typed zone alone when it is
                  -- one of them or the number has none; both when it is none of them; no data,
                  -- no typed zone: the campaign's.
                  from (select case when n.zones is null then array[coalesce(ct.time_zone, s.time_zone)]
                                    when ct.time_zone is null then n.zones
                                    when ct.time_zone = any (n.zones) then array[ct.time_zone]
                                    else n.zones || ct.time_zone end as zones
                          -- The number's zones (phone_prefix_zone()): the greatest listed prefix
                          -- <= the number, one index probe, is in most cases its longest prefix.
                          from (select (select case when starts_with(ct.phone, g.prefix) then g.time_zones
                                                    else (public.phone_prefix_zone(ct.phone)).time_zones end
                                          from (select p.prefix, p.time_zones from public.phone_prefix_zones p
                                                 where p.prefix <= ct.phone
                                                 order by p.prefix desc
                                                 limit 1) g) as zones
                                offset 0) n) z)
           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
           -- One person, one call: no active call to this number in any campaign.
           and not exists (select 1 from public.calls cl
                            where cl.to_phone = ct.phone
                              and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress'))
           -- The frequency cap across campaigns (null: off; the plan drops the probe then).
           and ($5::integer is null
                or (select count(*) from public.calls cl
                     where cl.to_phone = ct.phone and cl.released_at is null
                       and cl.queued_at >= $1 - interval '24 hours') < $5)
           -- The rules' caps (max_calls_per_24h) on this number, for the campaign's purpose.
           and not exists (select 1
                             from unnest((select rc.lengths from rule_caps rc)) l (n),
                                  jsonb_array_elements((select rc.by_prefix from rule_caps rc) -> left(ct.phone, l.n)) r (rule)
                            where (s.purpose is null or r.rule -> 'purposes' = 'null'::jsonb
                                   or r.rule -> 'purposes' ? s.purpose)
                              and (select count(*) from public.calls cl
                                    where cl.to_phone = ct.phone and cl.released_at is null
                                      and cl.queued_at >= $1 - interval '24 hours') >= (r.rule ->> 'cap')::integer)
         order by ct.callback_at is not null desc, ct.priority desc, ct.next_attempt_at, ct.id
         limit s.cap - s.active_n)
        ) u
       order by u.callback desc, u.priority desc, u.next_attempt_at, u.id
       limit s.cap - s.active_n
     ) p
  ),
  account_room as (
    -- Caps nest: campaign <= provider account <= global. An account's room, counted from the
    -- active call rows of its campaigns (accounts without a cap of their own are not listed).
    select a.id, a.max_concurrent_calls - coalesce(sum(x.n), 0) as room
      from public.provider_accounts a
      left join public.campaigns c on c.provider_account = a.id
      left join active x on x.campaign_id = c.id
     where a.max_concurrent_calls is not null
     group by a.id, a.max_concurrent_calls
  ),
  ranked as (
    select pk.campaign_id, pk.contact_id
      from (select pk.*,
                   row_number() over (partition by pk.provider_account order by pk.rn, pk.serve_rank) as per_account
              from (select pk.*, row_number() over (partition by pk.phone order by pk.rn, pk.serve_rank) as per_phone
                      from picked pk) pk
             -- One person, one call: a number due in several campaigns is reserved once per tick.
             where pk.per_phone = 1) pk
      left join account_room ar on ar.id = pk.provider_account
     where ar.id is null or pk.per_account <= ar.room
     order by pk.rn, pk.serve_rank
     -- The global room, counted from the active call rows.
     limit greatest($4 - (select coalesce(sum(a.n), 0) from active a), 0)
  ),
  locked as (
    -- By primary key, one probe per picked contact. The status test is written against text on
    -- purpose: `status = 'pending'` would let the planner walk the partial contacts_pending_idx
    -- once per picked row, which it prefers whenever the statistics are stale (a campaign's
    -- contacts all done and analysed, then a large import: 50,000 reservations took 276 s).
    select ct.id as contact_id, ct.phone, ct.attempts, r.campaign_id
      from ranked r
      join public.contacts ct on ct.id = r.contact_id
     where ct.status::text = 'pending'
     for update of ct skip locked
  ),
  inserted as (
    insert into public.calls (campaign_id, contact_id, attempt, status, provider, to_phone, run_id,
                              dispatch_after, queued_at, updated_at)
    select l.campaign_id, l.contact_id, l.attempts + 1, 'queued', s.provider, l.phone, $3,
           $1, $1, $1
      from locked l
      join served s on s.id = l.campaign_id
    returning public.calls.campaign_id, public.calls.contact_id
  ),
  contacts_reserved as (
    -- The rows locked above, by primary key: a join on ctid can turn into a scan of every contact
    -- per reserved row when the statistics are fresh (seen: 218 s for 50,000 reservations).
    update public.contacts ct
       set status = 'in_progress', updated_at = $1
      from locked l
     where ct.id = l.contact_id
    returning ct.id
  ),
  per_campaign as (
    select i.campaign_id, count(*)::integer as n from inserted i group by i.campaign_id
  ),
  outcome as (
    -- done: nothing reserved, no active call, no pending contact with attempts left (probed only
    -- for such campaigns: CASE evaluates in order, and OFFSET 0 keeps each probe one index lookup
    -- per campaign). A contact in progress has an active call, so none is left here.
    select s.id, coalesce(pc.n, 0) as n,
           case
             -- Past its end: completes once its calls in flight are over (claim_queued_calls
             -- releases its queued ones).
             when s.ended then s.active_n = 0
             when pc.n > 0 or s.active_n > 0 then false
             when exists (select 1 from public.contacts ct
                           where ct.campaign_id = s.id
                             and ct.status = 'pending'
                             and (ct.attempts < s.max_attempts or ct.callback_at is not null)
                          offset 0) then false
             else s.status = 'RUNNING'
                  or exists (select 1 from public.contacts x where x.campaign_id = s.id offset 0)
           end as done
      from served s
      left join per_campaign pc on pc.campaign_id = s.id
    offset 0
  ),
  campaigns_served as (
    update public.campaigns c
       set last_served_at = $1,
           status = case when o.done then 'COMPLETED'::public.campaign_status
                         when c.status = 'QUEUED' and o.n > 0 then 'RUNNING'::public.campaign_status
                         else c.status end,
           started_at = case when o.n > 0 then coalesce(c.started_at, $1) else c.started_at end,
           completed_at = case when o.done then $1 else c.completed_at end,
           updated_at = $1
      from outcome o
     where c.id = o.id
       and (o.n > 0 or o.done or (select count(*) from served) >= $2)
    returning c.id, c.status
  )
  select s.id,
         case
           when cs.status = 'COMPLETED' then 'completed'
           when s.problem is not null then 'set_up_problem'
           when coalesce(pc.n, 0) = 0 and not s.window_open then 'outside_window'
           else 'served'
         end::public.launch_outcome,
         coalesce(pc.n, 0),
         s.active_n + coalesce(pc.n, 0),
         s.cap,
         coalesce(cs.status, s.status),
         case when cs.status is distinct from 'COMPLETED' then s.problem end
    from served s
    left join per_campaign pc on pc.campaign_id = s.id
    left join campaigns_served cs on cs.id = s.id
   order by s.serve_rank
$sql$
  using p_now, v_max_campaigns, p_run_id, v_settings.global_max_concurrent_calls,
        v_settings.max_calls_per_number_per_day;
end;
$$;

comment on function public.launch_due_calls(timestamptz, integer, bigint) is
  'Reserves calls (status queued) for due contacts of QUEUED/RUNNING campaigns within per-campaign and global caps, calling windows, calling_hours_rules (in every zone of the called party: calling_hours_zones(); only the rules covering the campaign''s purpose, all when it has none; their max_calls_per_24h per number across campaigns), max attempts (not for a scheduled callback), the do-not-call list and, for a campaign with requires_consent, the contact''s consent (valid at p_now: consent_at <= p_now, consent_expires_at null or later); inside a campaign, due scheduled callbacks (contacts.callback_at) first, then higher contacts.priority, then earlier next_attempt_at; moves QUEUED to RUNNING and marks campaigns with nothing left COMPLETED. A campaign before its starts_at is not examined; one past its ends_at reserves nothing and is marked COMPLETED once it holds no active call. Returns one row per campaign examined or completed: outcome (served / outside_window / set_up_problem / completed), reserved, active_calls after reservation, cap, status, problem (the campaign''s set_up_problem when outcome is set_up_problem). Safe to call concurrently and repeatedly: concurrent callers are serialized by a try-advisory-lock and the loser returns one row with outcome busy and campaign_id null. p_now is the clock (tests pass their own); p_max_campaigns limits campaigns examined (default scheduler_settings.campaigns_per_tick); p_run_id is recorded on the calls.';

revoke all on function public.launch_due_calls(timestamptz, integer, bigint) from public, anon, authenticated;
grant execute on function public.launch_due_calls(timestamptz, integer, bigint) to service_role;

-- reserve_due_calls(): one reservation step, as both ticks run it (run_cron_tick() in the
-- database, the scheduler-tick function over a connection): housekeeping (run_housekeeping())
-- then launch_due_calls(), in the caller's transaction, summed up in one row. outcome 'busy':
-- another reservation held the lock; housekeeping ran, nothing was reserved. problems: one
-- {"campaign_id": "<id>", "message": "malformed campaign: <set_up_problem>"} per campaign that
-- cannot dial, in serving order.
create function public.reserve_due_calls(
  p_run_id bigint,
  p_now timestamptz default now(),
  p_housekeeping boolean default true
)
returns table (
  outcome public.reservation_outcome,
  campaigns_processed integer,
  calls_reserved integer,
  campaigns_completed integer,
  calls_released integer,
  calls_expired integer,
  problems jsonb
)
language plpgsql
set search_path = ''
as $$
declare
  v_housekeeping jsonb;
begin
  -- The whole scheduler paused (set_scheduler_paused()): nothing at all, housekeeping included.
  if public.scheduler_paused() then
    return query select 'paused'::public.reservation_outcome, 0, 0, 0, 0, 0, '[]'::jsonb;
    return;
  end if;
  -- A refill (a background dispatcher whose queue ran dry) reserves without the housekeeping the
  -- tick already ran.
  v_housekeeping := case when p_housekeeping then public.run_housekeeping(p_now)
                         else '{"calls_released": 0, "calls_expired": 0}'::jsonb end;
  return query
  select case when pg_catalog.bool_or(l.outcome = 'busy') then 'busy' else 'reserved' end::public.reservation_outcome,
         (count(*) filter (where l.outcome not in ('busy', 'completed')))::integer,
         coalesce(sum(l.reserved), 0)::integer,
         (count(*) filter (where l.outcome = 'completed'))::integer,
         (v_housekeeping ->> 'calls_released')::integer,
         (v_housekeeping ->> 'calls_expired')::integer,
         coalesce(jsonb_agg(jsonb_build_object('campaign_id', l.campaign_id::text,
                                               'message', 'malformed campaign: ' || l.problem)
                            order by l.ord) filter (where l.outcome = 'set_up_problem'), '[]'::jsonb)
    from public.launch_due_calls(p_now, null, p_run_id) with ordinality
           as l (campaign_id, outcome, reserved, active_calls, max_concurrent_calls, campaign_status, problem, ord);
end;
$$;

comment on function public.reserve_due_calls(bigint, timestamptz, boolean) is
  'One reservation step: run_housekeeping() (unless p_housekeeping is false: a refill) then launch_due_calls(p_now, null, p_run_id) in the caller''s transaction. Does nothing while the scheduler is paused (outcome paused). Returns one row: outcome (reserved, busy when another reservation held the lock, paused), campaigns_processed, calls_reserved, campaigns_completed, calls_released, calls_expired, problems (JSON array of {campaign_id, message} for campaigns that cannot dial).';

revoke all on function public.reserve_due_calls(bigint, timestamptz, boolean) from public, anon, authenticated;
grant execute on function public.reserve_due_calls(bigint, timestamptz, boolean) to service_role;
