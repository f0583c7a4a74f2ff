-- Calling-hours rules: the law's hours, on top of each campaign's own window. A rule applies to
-- the numbers that start with its prefix ('' = every number; an E.164 prefix such as '+1305' =
-- one area); every enabled rule that matches a number must allow the call (the strictest wins),
-- in every zone of the called party: the zones of the number's prefix (phone_prefix_zones), the
-- contact's typed zone, else the campaign's (calling_hours_zones() says which). An unknown zone
-- never dials.
-- Edited in Supabase Studio (or SQL): the reservation (launch_due_calls) and the dial-time check
-- (claim_queued_calls) read the table on every tick.
-- A rule allows [start_time, end_time) local time. start_time > end_time is a period that wraps
-- midnight (22:00-06:00: from 22:00 to 06:00 the next morning); as with campaign windows, the hours
-- after midnight belong to the day on which the period opened: `days` and `holidays` are checked
-- against that day (a 22:00-06:00 rule on Friday allows Saturday 03:00, not Monday 03:00).
-- start_time = end_time is refused (empty or the whole day? say 00:00-24:00 for the whole day).

create table public.calling_hours_rules (
  id bigint generated always as identity primary key,
  prefix text not null default '',
  start_time time not null default '08:00',
  end_time time not null default '21:00',
  days smallint[] not null default '{1,2,3,4,5,6,7}',
  holidays date[] not null default '{}',
  enabled boolean not null default true,
  note text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint calling_hours_rules_prefix_is_e164_start check (prefix = '' or prefix ~ '^\+[1-9][0-9]{0,14}$'),
  -- start > end wraps midnight; equal is ambiguous (00:00-24:00 is the whole day).
  constraint calling_hours_rules_start_differs_from_end check (start_time <> end_time),
  -- 24:00 ends a day, it starts none.
  constraint calling_hours_rules_start_before_midnight check (start_time < time '24:00'),
  constraint calling_hours_rules_days_are_iso_weekdays check (
    cardinality(days) between 1 and 7 and days <@ '{1,2,3,4,5,6,7}'::smallint[]
  ),
  constraint calling_hours_rules_holidays_not_null check (array_position(holidays, null) is null)
);

comment on table public.calling_hours_rules is
  'Calling hours by number prefix (legal quiet hours). Every enabled rule whose prefix starts the number must allow a call (strictest wins): local time in [start_time, end_time) on days (ISO 1 = Monday) and the local date not in holidays, in every zone of the called party (calling_hours_zones(): the number''s prefix zones, the contact''s typed zone, else the campaign''s). start_time > end_time wraps midnight; its hours after midnight belong to the day it opened (days, holidays). Unknown zones never dial. Seeded with the US federal rule (every number, 08:00-21:00) and disabled state examples.';
comment on column public.calling_hours_rules.prefix is '''''(empty) = every number; else an E.164 prefix such as +1305. Overlapping prefixes all apply.';
comment on column public.calling_hours_rules.start_time is
  'Local time from which calls are allowed. After end_time: the period wraps midnight (22:00-06:00), and its hours after midnight belong to the day it opened (days, holidays).';
comment on column public.calling_hours_rules.end_time is
  'Local time from which calls are no longer allowed (24:00 = until midnight). Must differ from start_time.';
comment on constraint calling_hours_rules_start_differs_from_end on public.calling_hours_rules is
  'start_time = end_time is not a period: use start_time < end_time for a daytime period, start_time > end_time for one that wraps midnight, 00:00-24:00 for the whole day.';
comment on constraint calling_hours_rules_start_before_midnight on public.calling_hours_rules is
  'start_time 24:00 starts nothing: write 00:00.';

alter table public.calling_hours_rules enable row level security;
revoke all on table public.calling_hours_rules from anon, authenticated;
revoke all on sequence public.calling_hours_rules_id_seq from anon, authenticated;

insert into public.calling_hours_rules (prefix, start_time, end_time, days, holidays, enabled, note) values
  ('', '08:00', '21:00', '{1,2,3,4,5,6,7}', '{}', true,
   'US federal rule (47 CFR 64.1200(c)(1)): no telephone solicitation before 8 am or after 9 pm, called party''s local time.'),
  ('+1305', '08:00', '20:00', '{1,2,3,4,5,6,7}', '{}', false,
   'Example (Florida, Fla. Stat. 501.059): 8 am to 8 pm. Add a rule per Florida area code, check the current law, then enable.'),
  ('+1405', '08:00', '20:00', '{1,2,3,4,5,6}', '{2026-12-25,2027-01-01}', false,
   'Example (Oklahoma, 15 O.S. 775C.4): 8 am to 8 pm, no Sundays or state holidays. Add every area code and holiday, then enable.');

-- The prefixes of the enabled rules that forbid calling at each local time of p_locals (a zone's
-- wall clock; '' among them when the every-number rule does), one row per distinct local time.
create function public._closed_calling_hours_prefixes_at(p_locals timestamp[])
returns table (local_time timestamp, closed text[])
language sql
stable
parallel safe
set search_path = ''
as $$
  -- A rule allows [start_time, end_time) on one of its days that is not a holiday; a period that
  -- wraps midnight (start_time > end_time) allows from start_time on such a day, and before
  -- end_time on the day after one (the hours after midnight belong to the day it opened).
  select l.t,
         coalesce(
           (select pg_catalog.array_agg(distinct r.prefix order by r.prefix)
              from public.calling_hours_rules r
             where r.enabled
               and not (
                 case
                   when r.start_time < r.end_time then
                     l.t::time >= r.start_time and l.t::time < r.end_time
                     and extract(isodow from l.t)::smallint = any (r.days)
                     and not (l.t::date = any (r.holidays))
                   else
                     (l.t::time >= r.start_time
                      and extract(isodow from l.t)::smallint = any (r.days)
                      and not (l.t::date = any (r.holidays)))
                     or (l.t::time < r.end_time
                         and extract(isodow from l.t - interval '1 day')::smallint = any (r.days)
                         and not ((l.t - interval '1 day')::date = any (r.holidays)))
                 end)),
           '{}'::text[])
    from (select distinct u.t from pg_catalog.unnest(p_locals) as u (t) where u.t is not null) l
$$;

comment on function public._closed_calling_hours_prefixes_at(timestamp[]) is
  'For each distinct local time of p_locals, the prefixes of the enabled calling_hours_rules that forbid a call then (empty: none).';

-- The prefixes of the enabled rules that forbid calling at p_now in p_time_zone ('' among them
-- when the every-number rule does; {''} when the zone is unknown or null: nothing may be dialled).
create function public.closed_calling_hours_prefixes(p_now timestamptz, p_time_zone text)
returns text[]
language plpgsql
stable
parallel unsafe
set search_path = ''
as $$
declare
  v_local timestamp;
begin
  if p_now is null or p_time_zone is null then
    return '{""}'::text[];
  end if;
  begin
    v_local := pg_catalog.timezone(p_time_zone, p_now);
  exception
    when invalid_parameter_value then
      return '{""}'::text[]; -- an unknown zone never dials
  end;
  return (select c.closed from public._closed_calling_hours_prefixes_at(array[v_local]) c);
end;
$$;

comment on function public.closed_calling_hours_prefixes(timestamptz, text) is
  'The prefixes of the enabled calling_hours_rules that forbid a call at p_now in p_time_zone (empty: none). An unknown or null zone gives {''''} (every number closed).';

-- The same for many zones at once, as one object {zone: [prefix, ...]}: the rules evaluated once
-- per distinct local time (zones in step share it) in one query, the zones' local times in one
-- subtransaction; when a zone is unknown, zone by zone (an unknown zone gets [''], never dials).
-- Without an enabled rule, every zone gets []. Null zones are left out. The reservation computes it
-- once per tick for every zone a number can be in, and tests each number against it.
create function public.closed_calling_hours_by_zone(p_now timestamptz, p_zones text[])
returns jsonb
language plpgsql
stable
parallel unsafe
set search_path = ''
as $$
declare
  v_zones text[] := array(select distinct u.zone from pg_catalog.unnest(p_zones) as u (zone) where u.zone is not null);
  v_locals timestamp[];
begin
  if not exists (select 1 from public.calling_hours_rules r where r.enabled) then
    return (select coalesce(pg_catalog.jsonb_object_agg(z.zone, '[]'::jsonb), '{}'::jsonb)
              from pg_catalog.unnest(v_zones) as z (zone));
  end if;
  begin
    v_locals := array(select pg_catalog.timezone(z.zone, p_now) from pg_catalog.unnest(v_zones) with ordinality as z (zone, i)
                       order by z.i);
  exception
    when invalid_parameter_value then
      -- an unknown zone among them: zone by zone
      return (
        select coalesce(pg_catalog.jsonb_object_agg(z.zone, pg_catalog.to_jsonb(public.closed_calling_hours_prefixes(p_now, z.zone))),
                        '{}'::jsonb)
          from pg_catalog.unnest(v_zones) as z (zone));
  end;
  return (
    select coalesce(pg_catalog.jsonb_object_agg(z.zone, pg_catalog.to_jsonb(c.closed)), '{}'::jsonb)
      from rows from (pg_catalog.unnest(v_zones), pg_catalog.unnest(v_locals)) as z (zone, local_time)
      join public._closed_calling_hours_prefixes_at(v_locals) c on c.local_time = z.local_time);
end;
$$;

comment on function public.closed_calling_hours_by_zone(timestamptz, text[]) is
  'For each zone of p_zones, the prefixes of the enabled calling_hours_rules that forbid a call at p_now there, as {zone: [prefix, ...]}; an unknown zone gets [''''] (every number closed); null zones are left out.';

-- True when p_phone may be called at p_now in p_time_zone under every enabled matching rule.
create function public.calling_hours_allow(p_now timestamptz, p_time_zone text, p_phone text)
returns boolean
language sql
stable
parallel unsafe
set search_path = ''
as $$
  select not exists (
    select 1 from pg_catalog.unnest(public.closed_calling_hours_prefixes(p_now, p_time_zone)) as c (prefix)
     where pg_catalog.starts_with(p_phone, c.prefix)
  )
$$;

comment on function public.calling_hours_allow(timestamptz, text, text) is
  'True when every enabled calling_hours_rules row whose prefix starts p_phone allows a call at p_now in p_time_zone (strictest wins). Unknown or null zones give false.';

-- When a number may be called next (why not now: "window closed until ..."): the first instant at
-- or after p_now, within 15 days, at which the calling window (in p_time_zone) allows it and every
-- matching enabled rule allows it in each of p_rule_zones (the called party's zones,
-- calling_hours_zones(); null: p_time_zone alone). Every period of either opens at a window_start
-- or a rule's start_time (their hours after midnight belong to the day they opened), so those local
-- times on each of the next 15 days, in their zones, and p_now itself, are the candidates. Around
-- DST changes a local time names no instant (spring forward: PostgreSQL reads 02:15 as 03:15, while
-- the period opened when the clock jumped, 03:00) or two (fall back: 01:30 is read as the later
-- one), so each candidate's hour and the instant an hour earlier are candidates too; candidates are
-- checked in time order, the first open one wins. Null: none within 15 days, or an unknown / null
-- zone (never dials). For an operator's look, not for the reservation.
create function public.next_calling_time(
  p_now timestamptz,
  p_time_zone text,
  p_window_start time,
  p_window_end time,
  p_window_days smallint[],
  p_phone text,
  p_rule_zones text[] default null
)
returns timestamptz
language plpgsql
stable
parallel unsafe
set search_path = ''
as $$
declare
  v_zones text[] := coalesce(p_rule_zones, array[p_time_zone]);
  v_zone text;
begin
  if p_now is null or p_time_zone is null or p_phone is null or cardinality(v_zones) = 0 then
    return null;
  end if;
  foreach v_zone in array array_prepend(p_time_zone, v_zones) loop
    if not public.is_valid_time_zone(v_zone) then
      return null; -- an unknown zone never dials
    end if;
  end loop;
  return (
    select c.at
      from (select distinct k.at
              from (select p_now as at
                    union all
                    select v.at
                      from pg_catalog.generate_series(0, 14) as d (n),
                           (select p_time_zone as zone, p_window_start as t
                            union
                            select z.zone, r.start_time
                              from pg_catalog.unnest(v_zones) as z (zone), public.calling_hours_rules r
                             where r.enabled and pg_catalog.starts_with(p_phone, r.prefix)) as s,
                           lateral (select pg_catalog.timezone(s.zone,
                                             (pg_catalog.timezone(s.zone, p_now)::date + d.n)::timestamp + s.t) as at) as o,
                           lateral (values (o.at), (pg_catalog.date_trunc('hour', o.at)), (o.at - interval '1 hour')) as v (at)
                   ) as k
             where k.at >= p_now
             order by k.at
            offset 0) as c
     where public.is_within_calling_window(c.at, p_time_zone, p_window_start, p_window_end, p_window_days)
       and not exists (select 1 from pg_catalog.unnest(v_zones) as z (zone)
                        where not public.calling_hours_allow(c.at, z.zone, p_phone))
     limit 1);
end;
$$;

comment on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[]) is
  'The first instant at or after p_now (within 15 days) at which the calling window (p_window_start, p_window_end, p_window_days in p_time_zone) allows a call and every enabled calling_hours_rules row matching p_phone allows it in each of p_rule_zones (null: p_time_zone); null when none, or for an unknown or null zone.';

revoke all on function public._closed_calling_hours_prefixes_at(timestamp[]) from public, anon, authenticated;
grant execute on function public._closed_calling_hours_prefixes_at(timestamp[]) to service_role;
revoke all on function public.closed_calling_hours_prefixes(timestamptz, text) from public, anon, authenticated;
grant execute on function public.closed_calling_hours_prefixes(timestamptz, text) to service_role;
revoke all on function public.closed_calling_hours_by_zone(timestamptz, text[]) from public, anon, authenticated;
grant execute on function public.closed_calling_hours_by_zone(timestamptz, text[]) to service_role;
revoke all on function public.calling_hours_allow(timestamptz, text, text) from public, anon, authenticated;
grant execute on function public.calling_hours_allow(timestamptz, text, text) to service_role;
revoke all on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[]) from public, anon, authenticated;
grant execute on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[]) to service_role;
