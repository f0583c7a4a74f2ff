-- Faster reservation ticks, measured by `npm run bench` (docs/performance.md). A tick writes one
-- call row per reservation and updates the contact and the campaign it serves; PostgreSQL runs
-- every CHECK of an updated row again, whatever the update changes, and checks each foreign key
-- of every inserted row. So:
--   * E.164 checks are written inline (a function call pinned to a search_path is never inlined);
--   * the time-zone checks become triggers that run only when a zone is written (the check opens
--     a subtransaction per row, about 10 us per campaign served; same constraint names, same
--     SQLSTATE 23514, same message);
--   * calls reference their contact only: the contact references its campaign, deleting a
--     campaign still removes its contacts and their calls, and a tick checks one key per call
--     instead of two;
--   * campaigns leave room on their pages and drop the serving-order index nothing used (the tick
--     reads every active campaign anyway), so the per-tick update of last_served_at is HOT;
--   * launch_due_calls() is one statement planned per call, with the completion check folded in.

alter table public.contacts drop constraint contacts_phone_is_e164;
alter table public.contacts add constraint contacts_phone_is_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$');
alter table public.campaigns drop constraint campaigns_caller_id_is_e164;
alter table public.campaigns add constraint campaigns_caller_id_is_e164
  check (caller_id is null or caller_id ~ '^\+[1-9][0-9]{6,14}$');
alter table public.do_not_call_numbers drop constraint do_not_call_numbers_phone_is_e164;
alter table public.do_not_call_numbers add constraint do_not_call_numbers_phone_is_e164
  check (phone ~ '^\+[1-9][0-9]{6,14}$');

-- Raises exactly what the CHECK constraint it replaces raised. TG_ARGV[0]: the constraint name.
create function public._check_time_zone()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.time_zone is not null and not public.is_valid_time_zone(new.time_zone) then
    raise exception 'new row for relation "%" violates check constraint "%"', tg_table_name, tg_argv[0]
      using errcode = 'check_violation', constraint = tg_argv[0], table = tg_table_name,
            schema = tg_table_schema;
  end if;
  return new;
end;
$$;

revoke all on function public._check_time_zone() from public, anon, authenticated;

alter table public.campaigns drop constraint campaigns_time_zone_is_valid;
create trigger campaigns_time_zone_is_valid
  before insert or update of time_zone on public.campaigns
  for each row execute function public._check_time_zone('campaigns_time_zone_is_valid');

alter table public.contacts drop constraint contacts_time_zone_is_valid;
create trigger contacts_time_zone_is_valid
  before insert or update of time_zone on public.contacts
  for each row execute function public._check_time_zone('contacts_time_zone_is_valid');

alter table public.calls drop constraint calls_campaign_id_fkey;

drop index public.campaigns_active_serving_order_idx;

-- One index of due contacts instead of two (the contacts that use the campaign's zone, and all
-- pending contacts), and no index of open contacts: a reservation moves a contact out of pending
-- and inserts one entry less into the contacts' indexes, a campaign inside its window is read with
-- one index probe, and the completion check probes the pending contacts (a contact in progress
-- always has an active call, which already rules the campaign out).
create index contacts_pending_idx on public.contacts (campaign_id, next_attempt_at, id)
  where status = 'pending';
drop index public.contacts_due_idx;
drop index public.contacts_open_idx;
alter table public.campaigns set (fillfactor = 70);

create or replace function public.launch_due_calls(
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

  if not pg_catalog.pg_try_advisory_xact_lock(7345123001) then
    return query select null::bigint, 0, 0, 0, null::public.campaign_status,
      'skipped: another launch_due_calls() is running'::text;
    return;
  end if;

  v_settings := public._settings();
  v_max_campaigns := coalesce(p_max_campaigns, v_settings.campaigns_per_tick);

  -- One statement, one snapshot taken after the lock is held. Campaigns with room, least
  -- recently served first, priority breaks ties; inside a campaign, contacts by next_attempt_at;
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
    select w.time_zone, w.window_start, w.window_end, w.window_days,
           public.is_within_calling_window($1, w.time_zone, w.window_start, w.window_end, w.window_days)
             as window_open
      from (select distinct c.time_zone, c.window_start, c.window_end, c.window_days
              from public.campaigns c
             where c.status in ('QUEUED', 'RUNNING')) w
  ),
  served as (
    select c.id,
           c.max_concurrent_calls as cap,
           coalesce(a.n, 0) as active_n,
           c.max_attempts,
           c.provider,
           c.status,
           c.window_start,
           c.window_end,
           c.window_days,
           -- public._campaign_problem(), written out: a call to a function pinned to a
           -- search_path costs ~10 us (the setting is swapped in and out), once per campaign.
           case
             when c.caller_id is null then 'caller_id is not set'
             when pg_catalog.num_nonnulls(c.provider_settings ->> 'url', c.provider_settings ->> 'twiml',
                                          c.provider_settings ->> 'application_sid') <> 1
               then 'provider_settings needs exactly one of url, twiml, application_sid'
           end as problem,
           w.window_open,
           row_number() over (order by c.last_served_at nulls first, c.priority desc, c.id) as serve_rank
      from public.campaigns c
      join windows w
        on w.time_zone = c.time_zone and w.window_start = c.window_start
       and w.window_end = c.window_end and w.window_days = c.window_days
      left join active a on a.campaign_id = c.id
     where c.status in ('QUEUED', 'RUNNING')
       and c.max_concurrent_calls > coalesce(a.n, 0)
     order by c.last_served_at nulls first, c.priority desc, c.id
     limit $2
  ),
  picked as (
    -- Per campaign, its room's worth of due contacts, each with its rank inside the campaign: one
    -- index probe (a one-time filter on the campaign's window picks which of the two runs).
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
           and ct.next_attempt_at <= $1
           and ct.attempts < s.max_attempts
           and (ct.time_zone is null
                or public.is_within_calling_window($1, ct.time_zone, s.window_start, s.window_end, s.window_days))
           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
         order by ct.next_attempt_at, ct.id
         limit s.cap - s.active_n)
       union all
       -- Outside the campaign's window only contacts with a zone of their own can be due.
       (select ct.id, ct.next_attempt_at
          from public.contacts ct
         where not s.window_open
           and s.problem is null
           and ct.campaign_id = s.id
           and ct.status = 'pending'
           and ct.time_zone is not null
           and ct.next_attempt_at <= $1
           and ct.attempts < s.max_attempts
           and public.is_within_calling_window($1, ct.time_zone, s.window_start, s.window_end, s.window_days)
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
     -- The global room, counted from the active call rows.
     limit greatest($4 - (select coalesce(sum(a.n), 0) from active a), 0)
  ),
  locked as (
    select ct.id as contact_id, ct.phone, ct.attempts, r.campaign_id
      from ranked r
      join public.contacts ct on ct.id = r.contact_id
     where ct.status = 'pending'
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
             when pc.n > 0 or s.active_n > 0 then false
             when exists (select 1 from public.contacts ct
                           where ct.campaign_id = s.id
                             and ct.status = 'pending'
                             and ct.attempts < s.max_attempts
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
         coalesce(pc.n, 0),
         s.active_n + coalesce(pc.n, 0),
         s.cap,
         coalesce(cs.status, s.status),
         case
           when cs.status = 'COMPLETED' then 'completed: no contacts left to call'
           when s.problem is not null then 'malformed campaign: ' || s.problem
           when coalesce(pc.n, 0) > 0 then null
           when not s.window_open then 'outside calling window'
           else null
         end
    from served s
    left join per_campaign pc on pc.campaign_id = s.id
    left join campaigns_served cs on cs.id = s.id
   order by s.serve_rank
$sql$
  using p_now, v_max_campaigns, p_run_id, v_settings.global_max_concurrent_calls;
end;
$$;

-- claim_queued_calls() no longer forces custom plans: the setting reached the foreign-key checks
-- of the calls it claims (dispatch_run_id), re-planning each of them. Its statement walks
-- calls_queued_idx in order under any plan.
alter function public.claim_queued_calls(integer, bigint, timestamptz, bigint) reset plan_cache_mode;
