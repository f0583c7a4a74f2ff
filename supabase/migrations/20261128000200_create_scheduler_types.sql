-- Status vocabularies. The order of each enum is deliberate: it follows the life of the thing,
-- so that "never moves backwards" can be checked by comparing positions.

-- QUEUED: created, not yet served. RUNNING: the scheduler has reserved calls for it.
-- PAUSED: an operator stopped it for now (queued calls are released, active calls finish).
-- COMPLETED: nothing left to do (set by launch_due_calls()). CANCELLED: stopped for good.
create type public.campaign_status as enum ('QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'CANCELLED');

-- pending: waiting for its next attempt (next_attempt_at). in_progress: has exactly one active call.
-- done: a call completed. exhausted: max attempts used. invalid: the provider rejected the number.
-- do_not_call: the number is on the do-not-call list. cancelled: its campaign was cancelled before
-- the contact was done (an operator's cancel ends every pending contact).
create type public.contact_status as enum ('pending', 'in_progress', 'done', 'exhausted', 'invalid', 'do_not_call', 'cancelled');

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

-- What one reservation step did (reserve_due_calls()): 'reserved': it ran (whatever it reserved);
-- 'busy': another reservation held the lock, so it did nothing; 'paused': the whole scheduler is
-- paused (scheduler_settings.paused_at), so it did nothing.
create type public.reservation_outcome as enum ('reserved', 'busy', 'paused');

-- What launch_due_calls() did with one campaign. busy: another launch_due_calls() held the lock (one
-- row, campaign_id null, nothing done). served: examined inside its window (reserved may be 0).
-- outside_window: no contact is inside its calling window. set_up_problem: the campaign cannot
-- dial (problem says why; campaigns.set_up_problem). completed: nothing left to do.
create type public.launch_outcome as enum ('busy', 'served', 'outside_window', 'set_up_problem', 'completed');

-- Advisory lock keys, by name, in one place: hashtext() of the name, so no number is repeated
-- anywhere (SQL or TypeScript). Transaction-scoped locks only (Supabase's pooler).
create function public._lock_key(p_name text)
returns bigint
language sql
immutable
parallel safe
set search_path = ''
as $$ select pg_catalog.hashtext('campaign_scheduler.' || p_name)::bigint $$;

comment on function public._lock_key(text) is
  'The advisory lock key of a named critical section (launch_due_calls, manual_trigger): hashtext(''campaign_scheduler.'' || p_name).';

-- E.164 (a plus sign, then 7 to 15 digits, not starting with 0) is checked by the CHECK constraints
-- campaigns_caller_id_is_e164, contacts_phone_is_e164 and do_not_call_numbers_phone_is_e164, each
-- written as `~ '^\+[1-9][0-9]{6,14}$'` (inline: a function pinned to a search_path is never
-- inlined, and PostgreSQL runs every CHECK again on each update of a row). The same pattern is
-- E164_PATTERN in supabase/functions/_shared/phone.ts; test/schema/e164.test.ts holds them equal.

-- Time zones. Immutable in practice: the time zone database changes rarely, and a zone that
-- disappears later never dials (is_within_calling_window() gives false for it).
-- PARALLEL UNSAFE: the EXCEPTION block opens a subtransaction, which a parallel query refuses.
create function public.is_valid_time_zone(p_time_zone text)
returns boolean
language plpgsql
immutable
parallel unsafe
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

revoke all on function public._lock_key(text) from public, anon, authenticated;
revoke all on function public.is_valid_time_zone(text) from public, anon, authenticated;
grant execute on function public._lock_key(text) to service_role;
grant execute on function public.is_valid_time_zone(text) to service_role;

-- The time_zone columns of campaigns and contacts are checked by this trigger, only when a zone is
-- written (a CHECK would run, with its subtransaction, on every update of the row: about 10 us per
-- campaign served by a tick). It raises what a CHECK constraint would: SQLSTATE 23514, the
-- constraint name TG_ARGV[0] (campaigns_time_zone_is_valid, contacts_time_zone_is_valid).
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
