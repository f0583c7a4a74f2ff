-- Monitoring views for Supabase Studio, the dashboard and the metrics endpoint. security_invoker:
-- they show only what the reader may read (service_role / postgres), as Supabase's advisors expect.

-- Words: a call is reserved when launch_due_calls() inserts its row (scheduler_runs.calls_reserved),
-- and launched (dispatched) when the provider accepted it (scheduler_runs.calls_launched, the
-- tick's "launched"; here: dialled and the provider's call id known, whether its answer or a
-- status callback told us).

-- Calls launched per hour / day.
create index calls_dialed_at_idx on public.calls (dialed_at) where dialed_at is not null;

-- Machine answers: calls the provider reported answered by a machine (AnsweredBy machine_* or fax,
-- as apply_call_status reads them), counted from call rows by when the call ended, per hour / day.
-- They arrive by status callback, after the tick that launched the call: the run log cannot count
-- them, the calls can.
-- The list is spelled out (not a function) so that the planner matches the partial index.
create index calls_machine_answered_idx on public.calls (ended_at, campaign_id)
  where answered_by in ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax');

create view public.scheduler_status
with (security_invoker = true) as
with last_run as (
  select r.* from public.scheduler_runs r
   where r.status <> 'duplicate'
   order by r.started_at desc, r.id desc
   limit 1
),
runs_hour as (
  select count(*) filter (where r.status in ('ok', 'partial', 'failed')) as finished,
         count(*) filter (where r.status in ('partial', 'failed')) as with_errors,
         count(*) filter (where r.status = 'failed') as failed,
         count(*) filter (where r.status = 'skipped') as skipped,
         count(*) filter (where r.status = 'duplicate') as duplicates
    from public.scheduler_runs r
   where r.started_at > now() - interval '1 hour'
),
calls_active as (
  select count(*) as n from public.calls c
   where c.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
),
tick_job as (
  select j.schedule, j.active from cron.job j where j.jobname = 'campaign-scheduler-tick'
)
select
  (select l.id from last_run l) as last_run_id,
  (select l.trigger from last_run l) as last_run_trigger,
  (select l.status from last_run l) as last_run_status,
  (select l.started_at from last_run l) as last_run_started_at,
  (select l.finished_at from last_run l) as last_run_finished_at,
  (select l.duration_ms from last_run l) as last_run_duration_ms,
  (select l.calls_reserved from last_run l) as last_run_calls_reserved,
  (select l.calls_launched from last_run l) as last_run_calls_launched,
  (select jsonb_array_length(l.errors) from last_run l) as last_run_error_count,
  (select l.errors from last_run l) as last_run_errors,
  case when (select t.schedule from tick_job t) = '* * * * *'
       then date_trunc('minute', now()) + interval '1 minute' end as next_run_at,
  (select t.active from tick_job t) as cron_job_active,
  (select count(*) from public.calls c
    where c.dialed_at > now() - interval '1 hour' and c.provider_call_id is not null) as calls_launched_last_hour,
  (select count(*) from public.calls c
    where c.dialed_at > now() - interval '1 day' and c.provider_call_id is not null) as calls_launched_last_day,
  (select count(*) from public.calls c where c.status = 'completed' and c.ended_at > now() - interval '1 day') as calls_completed_last_day,
  (select h.finished from runs_hour h) as runs_last_hour,
  (select h.failed from runs_hour h) as failed_runs_last_hour,
  (select h.skipped from runs_hour h) as skipped_runs_last_hour,
  (select h.duplicates from runs_hour h) as duplicate_runs_last_hour,
  (select case when h.finished = 0 then 0 else round(h.with_errors::numeric / h.finished, 4) end from runs_hour h)
    as run_error_rate_last_hour,
  (select a.n from calls_active a) as active_calls,
  (select s.global_max_concurrent_calls from public.scheduler_settings s where s.id) as global_max_concurrent_calls,
  (select count(*) from public.calls c where c.status = 'queued') as queued_calls,
  (select count(*) from public.campaigns c where c.status in ('QUEUED', 'RUNNING')) as active_campaigns,
  -- The worst breaker over the provider accounts (open, then half open, then closed).
  coalesce((select b.state from public.provider_circuit_breakers b
             order by case b.state when 'open' then 0 when 'half_open' then 1 else 2 end limit 1), 'closed') as breaker_state,
  (select max(b.open_until) from public.provider_circuit_breakers b where b.state = 'open') as breaker_open_until,
  (select count(*) from public.calls c
    where c.answered_by in ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax')
      and c.ended_at > now() - interval '1 hour') as machine_answers_last_hour,
  (select count(*) from public.calls c
    where c.answered_by in ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax')
      and c.ended_at > now() - interval '1 day') as machine_answers_last_day;

comment on view public.scheduler_status is
  'One row: the last run and its outcome, the next scheduled run, calls launched (accepted by the provider) in the last hour and day, the run error rate, active calls against the global cap, the provider circuit breaker, and calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last hour and day.';

create view public.scheduler_campaign_progress
with (security_invoker = true) as
select
  c.id as campaign_id,
  c.name,
  c.status,
  c.priority,
  c.max_concurrent_calls,
  coalesce(a.active, 0) as active_calls,
  coalesce(a.queued, 0) as queued_calls,
  coalesce(k.total, 0) as contacts_total,
  coalesce(k.pending, 0) as contacts_pending,
  coalesce(k.in_progress, 0) as contacts_in_progress,
  coalesce(k.done, 0) as contacts_done,
  coalesce(k.exhausted, 0) as contacts_exhausted,
  coalesce(k.invalid, 0) as contacts_invalid,
  coalesce(k.do_not_call, 0) as contacts_do_not_call,
  coalesce(k.pending, 0) + coalesce(k.in_progress, 0) as contacts_remaining,
  c.last_served_at,
  c.started_at,
  c.completed_at,
  c.starts_at,
  c.ends_at,
  c.paused_reason,
  c.paused_at,
  coalesce(m.last_hour, 0) as machine_answers_last_hour,
  coalesce(m.last_day, 0) as machine_answers_last_day
from public.campaigns c
left join (
  select cl.campaign_id,
         count(*) as active,
         count(*) filter (where cl.status = 'queued') as queued
    from public.calls cl
   where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
   group by cl.campaign_id
) a on a.campaign_id = c.id
left join (
  select ct.campaign_id,
         count(*) as total,
         count(*) filter (where ct.status = 'pending') as pending,
         count(*) filter (where ct.status = 'in_progress') as in_progress,
         count(*) filter (where ct.status = 'done') as done,
         count(*) filter (where ct.status = 'exhausted') as exhausted,
         count(*) filter (where ct.status = 'invalid') as invalid,
         count(*) filter (where ct.status = 'do_not_call') as do_not_call
    from public.contacts ct
   group by ct.campaign_id
) k on k.campaign_id = c.id
left join (
  select cl.campaign_id,
         count(*) filter (where cl.ended_at > now() - interval '1 hour') as last_hour,
         count(*) as last_day
    from public.calls cl
   where cl.answered_by in ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax')
     and cl.ended_at > now() - interval '1 day'
   group by cl.campaign_id
) m on m.campaign_id = c.id;

comment on view public.scheduler_campaign_progress is
  'Per campaign: active calls against its cap, queued calls, contacts by status (remaining = pending + in progress), its dates (starts_at / ends_at, null: none), why the scheduler paused it (paused_reason), if it did, and its calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last hour and day.';

create view public.scheduler_recent_runs
with (security_invoker = true) as
select r.id, r.trigger, r.scheduled_for, r.status, r.started_at, r.finished_at, r.duration_ms,
       r.campaigns_processed, r.calls_reserved, r.calls_launched, r.calls_failed, r.calls_unknown,
       r.calls_requeued, r.calls_released, r.calls_expired, r.campaigns_completed, r.breaker_state,
       r.duplicate_of, jsonb_array_length(r.errors) as error_count, r.errors
  from public.scheduler_runs r
 order by r.started_at desc, r.id desc
 limit 200;

comment on view public.scheduler_recent_runs is 'The 200 most recent scheduler runs, newest first.';

-- Why not now: the contacts of each open campaign (QUEUED, RUNNING, PAUSED) that are not being
-- called, counted by the first reason that holds, in the order the scheduler checks them. Evaluated
-- at now(): the window in each contact's zone (else the campaign's), the calling-hours rules in
-- every zone of the called party (calling_hours_zones(): the number's prefix zones, the contact's
-- typed zone, else the campaign's), only the rules covering the campaign's purpose (all of them when
-- it has none); a look for an operator, not a tick's query. The window is
-- evaluated once per campaign and zone, the rules once per zone and purpose (as the reservation does), the
-- contacts tested against the result. 'due' contacts wait only for room under the caps. detail, for
-- 'quiet hours': in which zone the rules keep them waiting and where that zone comes from ("in
-- America/Los_Angeles (from the number's prefix +1415) until 08:00", the hour local to that zone,
-- when the row has one such zone; else up to three zones with their counts); for 'consent expired'
-- when it expired ("expired 2026-11-30 18:00 UTC", or "expired between ... and ..."), in the
-- campaign's zone; for 'no consent' 'no consent recorded', or the earliest later moment from
-- which consent is recorded as given. opens_at says until
-- when: for 'window closed' and 'quiet hours' the earliest moment one of those contacts may be
-- called (next_calling_time: window and rules), for 'campaign not started' starts_at, for 'retry
-- later' the earliest next_attempt_at, for 'no consent' the earliest consent recorded as given
-- later than now (null: none recorded); time_zone is the campaign's, to show it in. no_zone_data:
-- how many of the row's contacts have neither zone data for their number nor a typed zone (the
-- rules are checked in the campaign's zone for them: worth a look).
-- contact_wait_details(): why each waiting contact (pending, exhausted, do-not-call) of an open
-- campaign is not being called at p_now, one row per contact: the first reason that holds (the
-- reasons of contact_wait_reasons, below), and for quiet hours the first zone in which a rule
-- matching the number is closed and where that zone comes from. p_phone: only the contacts with
-- that number (one person's why-not-now); null: all of them (the view below counts them).
create function public.contact_wait_details(p_now timestamptz, p_phone text default null)
returns table (
  campaign_id bigint,
  contact_id bigint,
  phone text,
  zone text,
  rule_zones text[],
  next_attempt_at timestamptz,
  zone_source text,
  consent_at timestamptz,
  consent_expires_at timestamptz,
  quiet_in text,
  quiet_zone text,
  reason text
)
language sql
stable
set search_path = ''
as $$
with open_campaigns as (
  select c.* from public.campaigns c where c.status in ('QUEUED', 'RUNNING', 'PAUSED')
),
waiting as (
  select ct.id, ct.campaign_id, ct.phone, ct.status, ct.attempts, ct.next_attempt_at, ct.callback_at,
         ct.consent_at, ct.consent_expires_at,
         coalesce(ct.time_zone, c.time_zone) as zone, ct.time_zone as contact_zone,
         hz.time_zones as rule_zones, hz.zone_source, hz.number_prefix, c.purpose
    from open_campaigns c
    join public.contacts ct on ct.campaign_id = c.id
   cross join lateral public.calling_hours_zones(ct.phone, ct.time_zone, c.time_zone) as hz
   where ct.status in ('pending', 'exhausted', 'do_not_call')
     and (p_phone is null or ct.phone = p_phone)
),
-- materialized: computed once per campaign and zone (inlined, the planner would evaluate the
-- window again for every contact: 50,000 contacts took 5.7 s instead of 0.4 s).
zones as materialized (
  select z.campaign_id, z.zone,
         public.is_within_calling_window(p_now, z.zone, c.window_start, c.window_end, c.window_days) as window_open
    from (select distinct w.campaign_id, w.zone from waiting w) z
    join open_campaigns c on c.id = z.campaign_id
),
-- The prefixes the rules close, once per zone of any waiting contact: {zone: [prefix, ...]}, one
-- row per campaign purpose (null among them): only the rules covering it count.
closed_hours as materialized (
  select p.purpose,
         public.closed_calling_hours_by_zone(p_now, array(select distinct pg_catalog.unnest(w.rule_zones) from waiting w),
                                             p.purpose) as closed
    from (select distinct c.purpose from open_campaigns c) p
),
settings as (
  select s.max_calls_per_number_per_day as per_day from public.scheduler_settings s where s.id
),
quiet as (
  -- The first of each contact's rule zones in which a rule matching its number is closed.
  select w.*,
         (select tz.zone
            from pg_catalog.unnest(w.rule_zones) with ordinality as tz (zone, i)
           where exists (select 1
                           from pg_catalog.jsonb_array_elements_text(
                                  (select h.closed from closed_hours h where h.purpose is not distinct from w.purpose) -> tz.zone)
                                  as p (prefix)
                          where pg_catalog.starts_with(w.phone, p.prefix))
           order by tz.i
           limit 1) as quiet_zone
    from waiting w
),
reasons as (
  select w.campaign_id, w.id as contact_id, w.phone, w.zone, w.rule_zones, w.next_attempt_at, w.zone_source,
         w.consent_at, w.consent_expires_at,
         case
           when w.quiet_zone is null then null
           when w.zone_source = 'campaign' then
             w.quiet_zone || ' (the campaign''s zone: no zone data for the number)'
           when w.quiet_zone = w.contact_zone then
             w.quiet_zone || ' (the contact''s zone' ||
               case when w.zone_source = 'contact' and w.number_prefix is not null
                    then ', one of the number''s prefix ' || w.number_prefix || ')' else ')' end
           else w.quiet_zone || ' (from the number''s prefix ' || w.number_prefix || ')'
         end as quiet_in,
         w.quiet_zone,
         case
           when c.status = 'PAUSED' then 'campaign paused'
           when c.starts_at > p_now then 'campaign not started'
           when c.ends_at <= p_now then 'campaign ended'
           when c.set_up_problem is not null then 'campaign set-up problem'
           when w.status = 'do_not_call'
                or exists (select 1 from public.do_not_call_numbers d where d.phone = w.phone) then 'do-not-call'
           -- A scheduled callback is called even with the attempts used.
           when w.status = 'exhausted' or (w.attempts >= c.max_attempts and w.callback_at is null) then 'attempts used'
           -- The campaign requires consent: none recorded (or given only later), or expired.
           when c.requires_consent and (w.consent_at is null or w.consent_at > p_now) then 'no consent'
           when c.requires_consent and w.consent_expires_at <= p_now then 'consent expired'
           when w.next_attempt_at > p_now and w.callback_at is not null then 'scheduled callback'
           when w.next_attempt_at > p_now then 'retry later'
           when not z.window_open then 'window closed'
           when w.quiet_zone is not null then 'quiet hours'
           when exists (select 1 from public.calls cl
                         where cl.to_phone = w.phone
                           and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress'))
             then 'number in a call'
           when case when (select s.per_day from settings s) is null then false
                     else (select s.per_day from settings s) <=
                          (select count(*) from public.calls cl
                            where cl.to_phone = w.phone and cl.released_at is null
                              and cl.queued_at >= p_now - interval '24 hours') end then 'frequency cap'
           -- A calling-hours rule's own cap (max_calls_per_24h) covering the campaign's purpose.
           when exists (select 1 from public.calling_hours_rules r
                         where r.enabled and r.max_calls_per_24h is not null
                           and pg_catalog.starts_with(w.phone, r.prefix)
                           and (w.purpose is null or r.purposes is null or w.purpose = any (r.purposes))
                           and (select count(*) from public.calls cl
                                 where cl.to_phone = w.phone and cl.released_at is null
                                   and cl.queued_at >= p_now - interval '24 hours') >= r.max_calls_per_24h)
             then 'frequency cap'
           else 'due'
         end as reason
    from quiet w
    join open_campaigns c on c.id = w.campaign_id
    join zones z on z.campaign_id = w.campaign_id and z.zone is not distinct from w.zone
)
select r.campaign_id, r.contact_id, r.phone, r.zone, r.rule_zones, r.next_attempt_at, r.zone_source,
       r.consent_at, r.consent_expires_at, r.quiet_in, r.quiet_zone, r.reason
  from reasons r
$$;

comment on function public.contact_wait_details(timestamptz, text) is
  'Why each waiting contact of an open campaign is not being called at p_now (one row per contact, the first reason that holds; the reasons of contact_wait_reasons), with the zone quiet hours hold in and where it comes from (quiet_in); p_phone: only the contacts with that number.';

create view public.contact_wait_reasons
with (security_invoker = true) as
with open_campaigns as (
  select c.* from public.campaigns c where c.status in ('QUEUED', 'RUNNING', 'PAUSED')
),
-- Each waiting contact's first reason (contact_wait_details()).
reasons as materialized (
  select * from public.contact_wait_details(now())
),
-- Until when the window / the rules keep them waiting: one next_calling_time per campaign, zone,
-- rule zones and set of matching rules (the earliest phone of the group stands for it).
openings as materialized (
  select g.campaign_id, g.reason,
         min(public.next_calling_time(now(), g.zone, c.window_start, c.window_end, c.window_days, g.phone,
                                      g.rule_zones, c.purpose)) as opens_at
    from (select r.campaign_id, r.reason, r.zone, r.rule_zones, min(r.phone) as phone
            from reasons r
           where r.reason in ('window closed', 'quiet hours')
           group by r.campaign_id, r.reason, r.zone, r.rule_zones,
                    array(select h.id from public.calling_hours_rules h
                           where h.enabled and pg_catalog.starts_with(r.phone, h.prefix) order by h.id)) g
    join open_campaigns c on c.id = g.campaign_id
   group by g.campaign_id, g.reason
),
-- Where the quiet hours hold: per campaign, each zone (and its source) with its contacts.
quiet_zones as (
  select q.campaign_id,
         count(*) as zones,
         min(q.quiet_zone) as one_zone,
         pg_catalog.string_agg('in ' || q.quiet_in || case when q.n > 0 then ', ' || q.n || ' contacts' end, '; '
                               order by q.n desc, q.quiet_in) filter (where q.rank <= 3) as listed
    from (select r.campaign_id, r.quiet_in, min(r.quiet_zone) as quiet_zone, count(*) as n,
                 row_number() over (partition by r.campaign_id order by count(*) desc, r.quiet_in) as rank
            from reasons r
           where r.reason = 'quiet hours'
           group by r.campaign_id, r.quiet_in) q
   group by q.campaign_id
)
select k.campaign_id, c.name as campaign_name, k.reason,
       case k.reason
         when 'campaign paused' then c.paused_reason
         when 'campaign set-up problem' then c.set_up_problem
         when 'quiet hours' then
           case when qz.zones = 1 then
                  (select 'in ' || r.quiet_in from reasons r
                    where r.campaign_id = k.campaign_id and r.reason = 'quiet hours' limit 1) ||
                  coalesce(' until ' || pg_catalog.to_char(pg_catalog.timezone(qz.one_zone, o.opens_at), 'HH24:MI'), '')
                else qz.listed || case when qz.zones > 3 then '; and ' || (qz.zones - 3) || ' more zones' else '' end
           end
         -- When it expired, in the campaign's zone: the one moment, or the earliest and latest.
         when 'consent expired' then
           'expired ' ||
           case when k.consent_expired_first = k.consent_expired_last
                then pg_catalog.to_char(pg_catalog.timezone(c.time_zone, k.consent_expired_last), 'YYYY-MM-DD HH24:MI')
                else 'between ' ||
                     pg_catalog.to_char(pg_catalog.timezone(c.time_zone, k.consent_expired_first), 'YYYY-MM-DD HH24:MI') ||
                     ' and ' ||
                     pg_catalog.to_char(pg_catalog.timezone(c.time_zone, k.consent_expired_last), 'YYYY-MM-DD HH24:MI')
           end || ' ' || c.time_zone
         when 'no consent' then
           case when k.consent_later is not null
                then 'consent given only from ' ||
                     pg_catalog.to_char(pg_catalog.timezone(c.time_zone, k.consent_later), 'YYYY-MM-DD HH24:MI') ||
                     ' ' || c.time_zone || ' (the earliest)'
                else 'no consent recorded' end
       end as detail,
       k.contacts,
       k.next_attempt_at,
       case k.reason
         when 'campaign not started' then c.starts_at
         when 'retry later' then k.next_attempt_at
         when 'scheduled callback' then k.next_attempt_at
         -- Consent recorded with a later start: from then (else it waits for consent to be recorded).
         when 'no consent' then k.consent_later
         when 'consent expired' then null
         else o.opens_at
       end as opens_at,
       c.time_zone,
       k.no_zone_data
  from (select r.campaign_id, r.reason, count(*) as contacts, min(r.next_attempt_at) as next_attempt_at,
               count(*) filter (where r.zone_source = 'campaign') as no_zone_data,
               min(r.consent_expires_at) filter (where r.reason = 'consent expired') as consent_expired_first,
               max(r.consent_expires_at) filter (where r.reason = 'consent expired') as consent_expired_last,
               min(r.consent_at) filter (where r.reason = 'no consent' and r.consent_at > now()) as consent_later
          from reasons r group by r.campaign_id, r.reason) k
  join open_campaigns c on c.id = k.campaign_id
  left join openings o on o.campaign_id = k.campaign_id and o.reason = k.reason
  left join quiet_zones qz on qz.campaign_id = k.campaign_id and k.reason = 'quiet hours';

comment on view public.contact_wait_reasons is
  'Why not now: per open campaign (QUEUED, RUNNING, PAUSED), its contacts not being called (pending, exhausted, do-not-call) counted by the first reason that holds at now(): campaign paused (detail: paused_reason), campaign not started / ended, campaign set-up problem (detail), do-not-call, attempts used, no consent / consent expired (the campaign requires_consent; detail: when it expired, in the campaign''s zone), scheduled callback (the person asked to be called at a later instant), retry later, window closed (in the contact''s zone, else the campaign''s), quiet hours (calling_hours_rules, in every zone of the called party: calling_hours_zones(); detail: in which zone and where it comes from, e.g. in America/Los_Angeles (from the number''s prefix +1415) until 08:00), number in a call, frequency cap (scheduler_settings.max_calls_per_number_per_day, or the max_calls_per_24h of a calling_hours_rules row covering the campaign''s purpose), due (waiting for room under the caps). opens_at: until when (window closed / quiet hours: the earliest moment one of them may be called, null when not within 15 days; not started: starts_at; scheduled callback, retry later: the earliest next_attempt_at; no consent: the earliest consent recorded as given later, if any); time_zone: the campaign''s, to show it in; no_zone_data: the contacts whose rules use the campaign''s zone (no zone data for the number, no typed zone).';

revoke all on public.scheduler_status from anon, authenticated;
revoke all on public.scheduler_campaign_progress from anon, authenticated;
revoke all on public.scheduler_recent_runs from anon, authenticated;
grant select on public.scheduler_status to service_role;
grant select on public.scheduler_campaign_progress to service_role;
grant select on public.scheduler_recent_runs to service_role;
revoke all on public.contact_wait_reasons from anon, authenticated;
revoke all on function public.contact_wait_details(timestamptz, text) from public, anon, authenticated;
grant execute on function public.contact_wait_details(timestamptz, text) to service_role;
grant select on public.contact_wait_reasons to service_role;
