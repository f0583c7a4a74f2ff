-- launch_due_calls(): the reservation step of every tick.
--
-- Reserves calls (status queued) for due contacts of QUEUED and RUNNING campaigns, set-based, in
-- one transaction, keeping invariants 1-3 of DESIGN.md:
--   * per-campaign cap and global cap, counted from the rows of active calls (no counters);
--   * one active call per contact (contacts move pending -> in_progress in the same statement);
--   * max attempts, calling window in the contact's own time zone (else the campaign's; an
--     unknown zone never dials), do-not-call list, only QUEUED/RUNNING campaigns.
--
-- Concurrency: callers are serialized with a transaction-scoped try-advisory-lock. A second,
-- concurrent call does not wait and does not reserve anything: it returns a single row whose
-- campaign_id is null and whose note starts with 'skipped'. Every count below is taken after the
-- lock is held, in statements that start after the previous holder committed, so concurrent ticks
-- can never each see the same free room. Only this function creates active calls; every other
-- writer (dispatcher, callbacks, reaper, pausing) only frees slots. Call it in READ COMMITTED
-- (the default): under REPEATABLE READ the snapshot could predate the previous holder's commit,
-- so the function refuses to run there.

-- Why a campaign cannot dial, or null when it can: it needs a caller id and exactly one of
-- provider_settings.url / twiml / application_sid (what the provider does when the call is answered).
create function public._campaign_problem(p_caller_id text, p_provider_settings jsonb)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when p_caller_id is null then 'caller_id is not set'
    when pg_catalog.num_nonnulls(p_provider_settings ->> 'url', p_provider_settings ->> 'twiml',
                                 p_provider_settings ->> 'application_sid') <> 1
      then 'provider_settings needs exactly one of url, twiml, application_sid'
  end
$$;

revoke all on function public._campaign_problem(text, jsonb) from public, anon, authenticated;
grant execute on function public._campaign_problem(text, jsonb) to service_role;

create function public.launch_due_calls(
  p_now timestamptz default now(),
  p_max_campaigns integer default null,
  p_run_id bigint default null
)
returns table (
  campaign_id bigint,
  reserved integer,
  active_calls integer,
  max_concurrent_calls integer,
  campaign_status public.campaign_status,
  note text
)
language plpgsql
set search_path = ''
set plan_cache_mode = force_custom_plan
-- The statements below are cheap per row but estimated expensive at scale: JIT compilation would
-- cost more than it saves (about a second at 10,000 campaigns).
set jit = off
as $$
#variable_conflict use_column
declare
  v_settings public.scheduler_settings;
  v_max_campaigns integer;
  v_global_room integer;
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

  if not pg_catalog.pg_try_advisory_xact_lock(7345123001) then
    return query select null::bigint, 0, 0, 0, null::public.campaign_status,
      'skipped: another launch_due_calls() is running'::text;
    return;
  end if;

  v_settings := public._settings();
  v_max_campaigns := coalesce(p_max_campaigns, v_settings.campaigns_per_tick);

  -- 1. Campaigns with nothing left to do become COMPLETED (a QUEUED campaign only once it has
  --    contacts, so that a campaign being filled is not completed under its owner's feet).
  --    One index probe per campaign, in this order (CASE evaluates in order; OFFSET 0 keeps each
  --    probe a subplan instead of an anti join that reads every contact): an open contact ends
  --    the test at once, so the active-calls probe only runs for campaigns that look finished.
  return query
  with completed as (
    update public.campaigns c
       set status = 'COMPLETED', completed_at = p_now, updated_at = p_now
     where c.status in ('QUEUED', 'RUNNING')
       and case
             when exists (select 1 from public.contacts ct
                           where ct.campaign_id = c.id
                             and ct.status in ('pending', 'in_progress')
                             and (ct.status = 'in_progress' or ct.attempts < c.max_attempts)
                          offset 0) then false
             when exists (select 1 from public.calls cl
                           where cl.campaign_id = c.id
                             and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
                          offset 0) then false
             else c.status = 'RUNNING'
                  or exists (select 1 from public.contacts x where x.campaign_id = c.id offset 0)
           end
    returning c.id, c.max_concurrent_calls, c.status
  )
  select d.id, 0, 0, d.max_concurrent_calls, d.status, 'completed: no contacts left to call'::text
    from completed d;

  -- 2. Global room, counted from active call rows.
  select greatest(v_settings.global_max_concurrent_calls - count(*)::integer, 0)
    into v_global_room
    from public.calls cl
   where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress');

  -- 3. Reserve. Campaigns with room, least recently served first, priority breaks ties; inside a
  --    campaign, contacts by next_attempt_at; across campaigns the global room is shared
  --    round-robin (every campaign's first call before anyone's second).
  return query
  with active as (
    select cl.campaign_id, count(*)::integer as n
      from public.calls cl
     where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
     group by cl.campaign_id
  ),
  served as (
    select c.id,
           c.max_concurrent_calls as cap,
           coalesce(a.n, 0) as active_n,
           c.max_attempts,
           c.provider,
           c.status,
           c.time_zone,
           c.window_start,
           c.window_end,
           c.window_days,
           public._campaign_problem(c.caller_id, c.provider_settings) as problem,
           public.is_within_calling_window(p_now, c.time_zone, c.window_start, c.window_end, c.window_days)
             as window_open,
           row_number() over (order by c.last_served_at nulls first, c.priority desc, c.id) as serve_rank
      from public.campaigns c
      left join active a on a.campaign_id = c.id
     where c.status in ('QUEUED', 'RUNNING')
       and c.max_concurrent_calls > coalesce(a.n, 0)
     order by c.last_served_at nulls first, c.priority desc, c.id
     limit v_max_campaigns
  ),
  picked as (
    -- Per campaign, its room's worth of due contacts (the two indexes merged in serving order),
    -- each with its rank inside the campaign.
    select s.id as campaign_id, s.serve_rank, p.id as contact_id, p.rn
      from served s
     cross join lateral (
      select u.id, row_number() over (order by u.next_attempt_at, u.id) as rn
        from (
       (select ct.id, ct.next_attempt_at
          from public.contacts ct
         where s.window_open
           and s.problem is null
           and ct.campaign_id = s.id
           and ct.status = 'pending'
           and ct.time_zone is null
           and ct.next_attempt_at <= p_now
           and ct.attempts < s.max_attempts
           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
         order by ct.next_attempt_at, ct.id
         limit s.cap - s.active_n)
       union all
       (select ct.id, ct.next_attempt_at
          from public.contacts ct
         where s.problem is null
           and ct.campaign_id = s.id
           and ct.status = 'pending'
           and ct.time_zone is not null
           and ct.next_attempt_at <= p_now
           and ct.attempts < s.max_attempts
           and public.is_within_calling_window(p_now, ct.time_zone, s.window_start, s.window_end, s.window_days)
           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
         order by ct.next_attempt_at, ct.id
         limit s.cap - s.active_n)
        ) u
       order by u.next_attempt_at, u.id
       limit s.cap - s.active_n
     ) p
  ),
  ranked as (
    select pk.campaign_id, pk.contact_id
      from picked pk
     order by pk.rn, pk.serve_rank
     limit v_global_room
  ),
  locked as (
    select ct.ctid as row_id, ct.id as contact_id, ct.phone, ct.attempts, r.campaign_id
      from ranked r
      join public.contacts ct on ct.id = r.contact_id
     where ct.status = 'pending'
     for update of ct skip locked
  ),
  inserted as (
    insert into public.calls (campaign_id, contact_id, attempt, status, provider, to_phone, run_id,
                              dispatch_after, queued_at, updated_at)
    select l.campaign_id, l.contact_id, l.attempts + 1, 'queued', s.provider, l.phone, p_run_id,
           p_now, p_now, p_now
      from locked l
      join served s on s.id = l.campaign_id
    returning public.calls.campaign_id, public.calls.contact_id
  ),
  contacts_reserved as (
    -- The rows locked above, by primary key: a join on ctid can turn into a scan of every contact
    -- per reserved row when the statistics are fresh (seen: 218 s for 50,000 reservations).
    update public.contacts ct
       set status = 'in_progress', updated_at = p_now
      from locked l
     where ct.id = l.contact_id
    returning ct.id
  ),
  per_campaign as (
    select i.campaign_id, count(*)::integer as n from inserted i group by i.campaign_id
  ),
  campaigns_served as (
    update public.campaigns c
       set last_served_at = p_now,
           status = case when c.status = 'QUEUED' and pc.n > 0 then 'RUNNING'::public.campaign_status
                         else c.status end,
           started_at = case when pc.n > 0 then coalesce(c.started_at, p_now) else c.started_at end,
           updated_at = p_now
      from served s
      left join per_campaign pc on pc.campaign_id = s.id
     where c.id = s.id
       and (pc.n > 0 or (select count(*) from served) >= v_max_campaigns)
    returning c.id, c.status
  )
  select s.id,
         coalesce(pc.n, 0),
         s.active_n + coalesce(pc.n, 0),
         s.cap,
         coalesce(cs.status, s.status),
         case
           when s.problem is not null then 'malformed campaign: ' || s.problem
           when coalesce(pc.n, 0) > 0 then null
           when not s.window_open then 'outside calling window'
           else null
         end
    from served s
    left join per_campaign pc on pc.campaign_id = s.id
    left join campaigns_served cs on cs.id = s.id
   order by s.serve_rank;
end;
$$;

comment on function public.launch_due_calls(timestamptz, integer, bigint) is
  'Reserves calls (status queued) for due contacts of QUEUED/RUNNING campaigns within per-campaign and global caps, calling windows, max attempts and the do-not-call list; moves QUEUED to RUNNING and marks campaigns with nothing left COMPLETED. Returns one row per campaign examined or completed (reserved, active_calls after reservation, cap, status, note). Safe to call concurrently and repeatedly: concurrent callers are serialized by a try-advisory-lock and the loser returns one row with campaign_id null and note ''skipped: ...''. p_now is the clock (tests pass their own); p_max_campaigns limits campaigns examined (default scheduler_settings.campaigns_per_tick); p_run_id is recorded on the calls.';

revoke all on function public.launch_due_calls(timestamptz, integer, bigint) from public, anon, authenticated;
grant execute on function public.launch_due_calls(timestamptz, integer, bigint) to service_role;
