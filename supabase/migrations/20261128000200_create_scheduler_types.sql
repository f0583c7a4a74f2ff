-- Status vocabularies. The order of each enum is deliberate: it follows the life of the thing,
-- so that "never moves backwards" can be checked by comparing positions.

-- QUEUED: created, not yet served. RUNNING: the scheduler has reserved calls for it.
-- PAUSED: an operator stopped it for now (queued calls are released, active calls finish).
-- COMPLETED: nothing left to do (set by launch_due_calls()). CANCELLED: stopped for good.
create type public.campaign_status as enum ('QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'CANCELLED');

-- pending: waiting for its next attempt (next_attempt_at). in_progress: has exactly one active call.
-- done: a call completed. exhausted: max attempts used. invalid: the provider rejected the number.
-- do_not_call: the number is on the do-not-call list.
create type public.contact_status as enum ('pending', 'in_progress', 'done', 'exhausted', 'invalid', 'do_not_call');

-- Active (holding a slot of the cap): queued, dialing, unknown, ringing, in_progress.
-- queued: reserved by launch_due_calls(), not yet sent. dialing: claimed by a dispatcher and sent
-- (or being sent) to the provider. unknown: the create request's outcome is unknown (timeout):
-- never re-sent, reconciled by a status callback or expired by the reaper. ringing, in_progress:
-- reported by the provider. The rest are final.
create type public.call_status as enum (
  'queued', 'dialing', 'unknown', 'ringing', 'in_progress',
  'completed', 'busy', 'no_answer', 'failed', 'canceled'
);

-- running: started, not finished (a crashed tick is later marked failed by housekeeping).
-- ok / partial (some errors) / failed: finished. skipped: another tick held the lock.
-- duplicate: a second delivery of the same trigger's scheduled minute; it did no work.
create type public.scheduler_run_status as enum ('running', 'ok', 'partial', 'failed', 'skipped', 'duplicate');

-- pg_cron: run_cron_tick() inside the database. pg_net: a pg_cron job calling the scheduler-tick
-- Edge Function over HTTP. vercel: Vercel Cron through api/scheduler/tick. manual: the dashboard's
-- button. local: npm start's ticker.
create type public.scheduler_trigger as enum ('pg_cron', 'pg_net', 'vercel', 'manual', 'local');

-- Validation helpers used by CHECK constraints. Immutable in practice: the time zone database
-- changes rarely, and a zone that disappears later never dials (see _local_time).
create function public.is_e164(p_phone text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$ select p_phone ~ '^\+[1-9][0-9]{6,14}$' $$;

comment on function public.is_e164(text) is
  'True when p_phone is an E.164 number: a plus sign, then 7 to 15 digits, not starting with 0.';

create function public.is_valid_time_zone(p_time_zone text)
returns boolean
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
  if p_time_zone is null
     or p_time_zone !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$'
     or p_time_zone ~ '^[A-Za-z]+[+-][0-9]' then
    return false;
  end if;
  perform pg_catalog.timezone(p_time_zone, '2000-01-01 00:00:00+00'::timestamptz);
  return true;
exception
  when invalid_parameter_value then
    return false;
end;
$$;

comment on function public.is_valid_time_zone(text) is
  'True when p_time_zone is a time zone name PostgreSQL knows (IANA names such as Europe/Paris). POSIX offset strings such as UTC+5 are refused.';

revoke all on function public.is_e164(text) from public, anon, authenticated;
revoke all on function public.is_valid_time_zone(text) from public, anon, authenticated;
grant execute on function public.is_e164(text) to service_role;
grant execute on function public.is_valid_time_zone(text) to service_role;
