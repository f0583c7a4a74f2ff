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
--
-- Purposes: a rule covers the campaigns whose purpose (campaigns.purpose) is among its purposes
-- (null: every purpose); a campaign that states no purpose is under every rule (the strictest).
-- The federal rules ship as '' (every number) rows: 47 CFR 64.1200(c)(1) for telemarketing, Reg F
-- (12 CFR 1006.6(b)(1)) for debt collection. The state rules ship as data, enabled: one row per
-- area code of the state (us_area_code_states), with the state, the citation and the date from
-- which it is in force. An operator turns off what does not apply to the business with
-- admin_set_calling_hours_rule_enabled() (a reason required); every change to a rule, by that
-- function or by hand, is recorded in operator_audit_log (trigger calling_hours_rules_audit).
-- max_calls_per_24h: at most that many calls (not released) to the number in any rolling 24 hours,
-- across every campaign the rule covers, counted by launch_due_calls() (null: no cap).

create table public.calling_hours_rules (
  id bigint generated always as identity primary key,
  prefix text not null default '',
  start_time time not null default '08:00',
  end_time time not null default '21:00',
  days smallint[] not null default '{1,2,3,4,5,6,7}',
  holidays date[] not null default '{}',
  enabled boolean not null default true,
  note text,
  -- Which US state's law the rule is (USPS code), the statute, and from when it is in force.
  state text,
  citation text,
  effective_date date,
  -- The campaign purposes the rule covers (campaigns.purpose); null: every purpose.
  purposes text[],
  -- At most this many calls to the number in any rolling 24 hours (null: no cap).
  max_calls_per_24h integer,
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
  constraint calling_hours_rules_holidays_not_null check (array_position(holidays, null) is null),
  constraint calling_hours_rules_state_is_usps_code check (state ~ '^[A-Z]{2}$'),
  constraint calling_hours_rules_purposes_are_known check (
    cardinality(purposes) >= 1 and array_position(purposes, null) is null
    and purposes <@ '{telemarketing,informational,debt_collection}'::text[]
  ),
  constraint calling_hours_rules_max_calls_per_24h_is_positive check (max_calls_per_24h >= 1)
);

create index calling_hours_rules_state on public.calling_hours_rules (state);

comment on table public.calling_hours_rules is
  'Calling hours by number prefix (legal quiet hours). Every enabled rule whose prefix starts the number must allow a call (strictest wins): local time in [start_time, end_time) on days (ISO 1 = Monday) and the local date not in holidays, in every zone of the called party (calling_hours_zones(): the number''s prefix zones, the contact''s typed zone, else the campaign''s). start_time > end_time wraps midnight; its hours after midnight belong to the day it opened (days, holidays). Unknown zones never dial. A rule covers the campaigns whose purpose is among purposes (null: all); a campaign without a purpose is under every rule. Seeded, enabled, with the US federal rules (every number, 08:00-21:00: telemarketing, debt collection) and the state rules (one row per area code of the state, from us_area_code_states); changes are audited in operator_audit_log.';
comment on column public.calling_hours_rules.purposes is
  'The campaign purposes (campaigns.purpose: telemarketing, informational, debt_collection) the rule covers; null: every purpose. A campaign whose purpose is null is under every rule.';
comment on column public.calling_hours_rules.state is 'The US state (USPS code) whose law the rule is, or null (a federal or an operator''s own rule).';
comment on column public.calling_hours_rules.citation is 'The statute or regulation the rule comes from.';
comment on column public.calling_hours_rules.effective_date is 'From when the law is in force (informative: the rule applies while enabled).';
comment on column public.calling_hours_rules.max_calls_per_24h is
  'At most this many calls (not released) to a number the rule matches in any rolling 24 hours, across every campaign the rule covers (launch_due_calls()); null: no cap.';
comment on column public.calling_hours_rules.prefix is '''''(empty) = every number; else an E.164 prefix such as +1305. Overlapping prefixes all apply.';
comment on column public.calling_hours_rules.start_time is
  'Local time from which calls are allowed. After end_time: the period wraps midnight (22:00-06:00), and its hours after midnight belong to the day it opened (days, holidays).';
comment on column public.calling_hours_rules.end_time is
  'Local time from which calls are no longer allowed (24:00 = until midnight). Must differ from start_time.';
comment on constraint calling_hours_rules_start_differs_from_end on public.calling_hours_rules is
  'start_time = end_time is not a period: use start_time < end_time for a daytime period, start_time > end_time for one that wraps midnight, 00:00-24:00 for the whole day.';
comment on constraint calling_hours_rules_start_before_midnight on public.calling_hours_rules is
  'start_time 24:00 starts nothing: write 00:00.';

-- The enabled rules of one number, by its own prefixes (the claim's evidence: one probe per prefix).
create index calling_hours_rules_enabled_prefix_idx on public.calling_hours_rules (prefix) where enabled;

alter table public.calling_hours_rules enable row level security;
revoke all on table public.calling_hours_rules from anon, authenticated;
revoke all on sequence public.calling_hours_rules_id_seq from anon, authenticated;

-- The federal rules, for every number.
insert into public.calling_hours_rules
  (prefix, start_time, end_time, days, holidays, enabled, purposes, citation, effective_date, note) values
  ('', '08:00', '21:00', '{1,2,3,4,5,6,7}', '{}', true, '{telemarketing}', '47 CFR 64.1200(c)(1)', null,
   'US federal rule (TCPA regulations): no telephone solicitation before 8 am or after 9 pm, called party''s local time.'),
  ('', '08:00', '21:00', '{1,2,3,4,5,6,7}', '{}', true, '{debt_collection}', '12 CFR 1006.6(b)(1)(i)', '2021-11-30',
   'US federal rule for debt collectors (Regulation F): a call before 8 am or after 9 pm at the consumer''s location is presumed inconvenient. Regulation F also presumes harassment above 7 calls in 7 days about one debt (1006.14(b)(2)): not enforced here.');

-- The state rules, one row per area code of the state (us_area_code_states), enabled. Only the
-- statutes whose hours this table can express are here; operators verify them against the current
-- law (docs/OPERATOR.md) and disable what does not apply to them, with a reason (audited).
insert into public.calling_hours_rules
  (prefix, start_time, end_time, days, holidays, enabled, state, purposes, max_calls_per_24h, citation,
   effective_date, note)
select a.prefix, s.start_time, s.end_time, s.days, s.holidays, true, s.state, '{telemarketing}',
       s.max_calls_per_24h, s.citation, s.effective_date, s.note
  from (values
    ('FL', time '08:00', time '20:00', '{1,2,3,4,5,6,7}'::smallint[], '{}'::date[], 3,
     'Fla. Stat. 501.616(6)', date '2021-07-01',
     'Florida: no commercial telephone solicitation before 8 am or after 8 pm at the called person''s location, and at most 3 calls to a person in 24 hours on the same subject.'),
    ('OK', '08:00', '20:00', '{1,2,3,4,5,6}', '{2026-12-25,2027-01-01,2027-01-18,2027-02-15,2027-05-31,2027-07-04,2027-09-06,2027-11-11,2027-11-25,2027-11-26,2027-12-25}', 3,
     '15 O.S. 775C.4 (Oklahoma Telephone Solicitation Act of 2022)', '2022-11-01',
     'Oklahoma: no commercial telephone solicitation before 8 am or after 8 pm, none on Sundays or state legal holidays (listed through 2027: extend each year), at most 3 calls to a person in 24 hours on the same subject.'),
    ('MD', '08:00', '20:00', '{1,2,3,4,5,6,7}', '{}', 3,
     'Md. Code, Com. Law 14-4503 (Stop the Spam Calls Act of 2023)', '2024-01-01',
     'Maryland: no telephone solicitation before 8 am or after 8 pm, at most 3 calls to a person in 24 hours on the same subject.'),
    ('WA', '08:00', '20:00', '{1,2,3,4,5,6,7}', '{}', null,
     'RCW 80.36.390', null,
     'Washington: no telephone solicitation before 8 am or after 8 pm at the called party''s location.'),
    ('MS', '08:00', '20:00', '{1,2,3,4,5,6}', '{}', null,
     'Miss. Code 77-3-725', null,
     'Mississippi: no telephone solicitation before 8 am or after 8 pm, none on Sundays.'),
    ('TX', '09:00', '21:00', '{1,2,3,4,5,6}', '{}', null,
     'Tex. Bus. & Com. Code 301.051', null,
     'Texas: 9 am to 9 pm Monday to Saturday, noon to 9 pm on Sunday. One rule cannot say both: Sundays are left out entirely (stricter than the law).')
  ) as s (state, start_time, end_time, days, holidays, max_calls_per_24h, citation, effective_date, note)
  join public.us_area_code_states a on a.state = s.state
 order by s.state, a.prefix;

-- The prefixes of the enabled rules that forbid calling at each local time of p_locals (a zone's
-- wall clock; '' among them when the every-number rule does), one row per distinct local time.
-- p_purpose: a campaign's purpose; only the rules covering it count (null: every rule).
create function public._closed_calling_hours_prefixes_at(p_locals timestamp[], p_purpose text default null)
returns table (local_time timestamp, closed text[])
language plpgsql
stable
parallel safe
set search_path = ''
as $$
begin
  -- A rule allows [start_time, end_time) on one of its days that is not a holiday; a period that
  -- wraps midnight (start_time > end_time) allows from start_time on such a day, and before
  -- end_time on the day after one (the hours after midnight belong to the day it opened).
  return query
  select l.t,
         coalesce(
           (select pg_catalog.array_agg(distinct r.prefix order by r.prefix)
              from public.calling_hours_rules r
             where r.enabled
               and (p_purpose is null or r.purposes is null or p_purpose = any (r.purposes))
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
    from (select distinct u.t from pg_catalog.unnest(p_locals) as u (t) where u.t is not null) l;
end;
$$;

comment on function public._closed_calling_hours_prefixes_at(timestamp[], text) is
  'For each distinct local time of p_locals, the prefixes of the enabled calling_hours_rules covering purpose p_purpose (null: every rule) that forbid a call then (empty: none).';

-- The prefixes of the enabled rules that forbid calling at p_now in p_time_zone ('' among them
-- when the every-number rule does; {''} when the zone is unknown or null: nothing may be dialled).
create function public.closed_calling_hours_prefixes(p_now timestamptz, p_time_zone text, p_purpose text default null)
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
  return (select c.closed from public._closed_calling_hours_prefixes_at(array[v_local], p_purpose) c);
end;
$$;

comment on function public.closed_calling_hours_prefixes(timestamptz, text, text) is
  'The prefixes of the enabled calling_hours_rules covering purpose p_purpose (null: every rule) that forbid a call at p_now in p_time_zone (empty: none). An unknown or null zone gives {''''} (every number closed).';

-- The same for many zones at once, as one object {zone: [prefix, ...]}: the rules evaluated once
-- per distinct local time (zones in step share it) in one query, the zones' local times in one
-- subtransaction; when a zone is unknown, zone by zone (an unknown zone gets [''], never dials).
-- Without an enabled rule, every zone gets []. Null zones are left out. The reservation computes it
-- once per tick for every zone a number can be in, and tests each number against it.
create function public.closed_calling_hours_by_zone(p_now timestamptz, p_zones text[], p_purpose text default null)
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
        select coalesce(pg_catalog.jsonb_object_agg(z.zone, pg_catalog.to_jsonb(public.closed_calling_hours_prefixes(p_now, z.zone, p_purpose))),
                        '{}'::jsonb)
          from pg_catalog.unnest(v_zones) as z (zone));
  end;
  return (
    select coalesce(pg_catalog.jsonb_object_agg(z.zone, pg_catalog.to_jsonb(c.closed)), '{}'::jsonb)
      from rows from (pg_catalog.unnest(v_zones), pg_catalog.unnest(v_locals)) as z (zone, local_time)
      join public._closed_calling_hours_prefixes_at(v_locals, p_purpose) c on c.local_time = z.local_time);
end;
$$;

comment on function public.closed_calling_hours_by_zone(timestamptz, text[], text) is
  'For each zone of p_zones, the prefixes of the enabled calling_hours_rules covering purpose p_purpose (null: every rule) that forbid a call at p_now there, as {zone: [prefix, ...]}; an unknown zone gets [''''] (every number closed); null zones are left out.';

-- True when p_phone may be called at p_now in p_time_zone under every enabled matching rule that
-- covers purpose p_purpose (null: every rule).
create function public.calling_hours_allow(p_now timestamptz, p_time_zone text, p_phone text, p_purpose text default null)
returns boolean
language sql
stable
parallel unsafe
set search_path = ''
as $$
  select not exists (
    select 1 from pg_catalog.unnest(public.closed_calling_hours_prefixes(p_now, p_time_zone, p_purpose)) as c (prefix)
     where pg_catalog.starts_with(p_phone, c.prefix)
  )
$$;

comment on function public.calling_hours_allow(timestamptz, text, text, text) is
  'True when every enabled calling_hours_rules row whose prefix starts p_phone and that covers purpose p_purpose (null: every rule) allows a call at p_now in p_time_zone (strictest wins). Unknown or null zones give false.';

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
-- zone (never dials). Only the rules covering purpose p_purpose count (null: every rule). For an
-- operator's look, not for the reservation.
create function public.next_calling_time(
  p_now timestamptz,
  p_time_zone text,
  p_window_start time,
  p_window_end time,
  p_window_days smallint[],
  p_phone text,
  p_rule_zones text[] default null,
  p_purpose text default null
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
                             where r.enabled and pg_catalog.starts_with(p_phone, r.prefix)
                               and (p_purpose is null or r.purposes is null or p_purpose = any (r.purposes))) as s,
                           lateral (select pg_catalog.timezone(s.zone,
                                             (pg_catalog.timezone(s.zone, p_now)::date + d.n)::timestamp + s.t) as at) as o,
                           lateral (values (o.at), (pg_catalog.date_trunc('hour', o.at)), (o.at - interval '1 hour')) as v (at)
                   ) as k
             where k.at >= p_now
             order by k.at
            offset 0) as c
     where public.is_within_calling_window(c.at, p_time_zone, p_window_start, p_window_end, p_window_days)
       and not exists (select 1 from pg_catalog.unnest(v_zones) as z (zone)
                        where not public.calling_hours_allow(c.at, z.zone, p_phone, p_purpose))
     limit 1);
end;
$$;

comment on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[], text) is
  'The first instant at or after p_now (within 15 days) at which the calling window (p_window_start, p_window_end, p_window_days in p_time_zone) allows a call and every enabled calling_hours_rules row matching p_phone and covering purpose p_purpose (null: every rule) allows it in each of p_rule_zones (null: p_time_zone); null when none, or for an unknown or null zone.';

revoke all on function public._closed_calling_hours_prefixes_at(timestamp[], text) from public, anon, authenticated;
grant execute on function public._closed_calling_hours_prefixes_at(timestamp[], text) to service_role;
revoke all on function public.closed_calling_hours_prefixes(timestamptz, text, text) from public, anon, authenticated;
grant execute on function public.closed_calling_hours_prefixes(timestamptz, text, text) to service_role;
revoke all on function public.closed_calling_hours_by_zone(timestamptz, text[], text) from public, anon, authenticated;
grant execute on function public.closed_calling_hours_by_zone(timestamptz, text[], text) to service_role;
revoke all on function public.calling_hours_allow(timestamptz, text, text, text) from public, anon, authenticated;
grant execute on function public.calling_hours_allow(timestamptz, text, text, text) to service_role;
revoke all on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[], text) from public, anon, authenticated;
grant execute on function public.next_calling_time(timestamptz, text, time, time, smallint[], text, text[], text) to service_role;
