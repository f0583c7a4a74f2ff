-- The run log's writers. Every tick starts a run (committed at once, so a crash leaves a 'running'
-- row that housekeeping later marks failed) and finishes it with its status and counts.

-- start_scheduler_run(): records the start of a tick. p_scheduled_for is the minute the trigger
-- was scheduled for (truncated to the minute; null for manual triggers). A second run for the same
-- trigger and minute (Vercel Cron may deliver an event twice) is recorded as 'duplicate', finished
-- at once, pointing at the first; the caller must then do no work. Manual triggers are
-- rate-limited: when the last manual run started less than manual_trigger_min_interval ago, no row
-- is written and run_id is null, with retry_after_ms telling when to come back.
create function public.start_scheduler_run(
  p_trigger public.scheduler_trigger,
  p_scheduled_for timestamptz default null,
  p_details jsonb default '{}'::jsonb,
  p_now timestamptz default clock_timestamp()
)
returns table (run_id bigint, duplicate_of bigint, retry_after_ms integer)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_minute timestamptz := pg_catalog.date_trunc('minute', p_scheduled_for);
  v_id bigint;
  v_first bigint;
  v_last_manual timestamptz;
  v_min_interval interval;
begin
  if p_trigger is null then
    raise exception 'p_trigger is required' using errcode = 'invalid_parameter_value';
  end if;

  if p_trigger = 'manual' then
    perform pg_catalog.pg_advisory_xact_lock(public._lock_key('manual_trigger'));
    v_min_interval := (public._settings()).manual_trigger_min_interval;
    select max(r.started_at) into v_last_manual
      from public.scheduler_runs r
     where r.trigger = 'manual' and r.started_at > p_now - v_min_interval;
    if v_last_manual is not null then
      return query select null::bigint, null::bigint,
        greatest(1, ceil(extract(epoch from (v_last_manual + v_min_interval - p_now)) * 1000))::integer;
      return;
    end if;
  end if;

  insert into public.scheduler_runs (trigger, scheduled_for, started_at, details)
  values (p_trigger, v_minute, p_now, coalesce(p_details, '{}'::jsonb))
  on conflict (trigger, scheduled_for) where duplicate_of is null and scheduled_for is not null
  do nothing
  returning id into v_id;

  if v_id is not null then
    return query select v_id, null::bigint, null::integer;
    return;
  end if;

  select r.id into v_first
    from public.scheduler_runs r
   where r.trigger = p_trigger and r.scheduled_for = v_minute and r.duplicate_of is null;

  insert into public.scheduler_runs (trigger, scheduled_for, status, started_at, finished_at, duration_ms,
                                     duplicate_of, details)
  values (p_trigger, v_minute, 'duplicate', p_now, p_now, 0, v_first, coalesce(p_details, '{}'::jsonb))
  returning id into v_id;
  return query select v_id, v_first, null::integer;
end;
$$;

comment on function public.start_scheduler_run(public.scheduler_trigger, timestamptz, jsonb, timestamptz) is
  'Starts a run-log row for a tick. Returns run_id, and duplicate_of (not null when this trigger already ran for that scheduled minute: the row is recorded as duplicate and the caller must do no work). Manual triggers within manual_trigger_min_interval of the previous one get run_id null and retry_after_ms.';

-- finish_scheduler_run(): records the end of a tick. p_stats keys: campaigns_processed,
-- calls_reserved, calls_launched, calls_failed, calls_unknown, calls_requeued, calls_released,
-- calls_expired, campaigns_completed, breaker_state, details (object). A run that reports errors
-- with status ok is recorded as partial. Finishing a run twice changes nothing.
create function public.finish_scheduler_run(
  p_run_id bigint,
  p_status public.scheduler_run_status,
  p_stats jsonb default '{}'::jsonb,
  p_errors jsonb default '[]'::jsonb,
  p_now timestamptz default clock_timestamp()
)
returns public.scheduler_runs
language plpgsql
set search_path = ''
as $$
declare
  v_run public.scheduler_runs;
  v_errors jsonb := coalesce(p_errors, '[]'::jsonb);
  v_stats jsonb := coalesce(p_stats, '{}'::jsonb);
begin
  if p_status is null or p_status in ('running', 'duplicate') then
    raise exception 'a run cannot finish with status %', coalesce(p_status::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(v_errors) <> 'array' then
    v_errors := jsonb_build_array(v_errors);
  end if;

  update public.scheduler_runs r
     set status = case when p_status = 'ok' and jsonb_array_length(v_errors) > 0 then 'partial' else p_status end,
         finished_at = greatest(p_now, r.started_at),
         duration_ms = greatest(0, round(extract(epoch from (greatest(p_now, r.started_at) - r.started_at)) * 1000))::integer,
         campaigns_processed = coalesce((v_stats ->> 'campaigns_processed')::integer, r.campaigns_processed),
         calls_reserved = coalesce((v_stats ->> 'calls_reserved')::integer, r.calls_reserved),
         calls_launched = coalesce((v_stats ->> 'calls_launched')::integer, r.calls_launched),
         calls_failed = coalesce((v_stats ->> 'calls_failed')::integer, r.calls_failed),
         calls_unknown = coalesce((v_stats ->> 'calls_unknown')::integer, r.calls_unknown),
         calls_requeued = coalesce((v_stats ->> 'calls_requeued')::integer, r.calls_requeued),
         calls_released = coalesce((v_stats ->> 'calls_released')::integer, r.calls_released),
         calls_expired = coalesce((v_stats ->> 'calls_expired')::integer, r.calls_expired),
         campaigns_completed = coalesce((v_stats ->> 'campaigns_completed')::integer, r.campaigns_completed),
         breaker_state = coalesce(v_stats ->> 'breaker_state', r.breaker_state),
         details = r.details || coalesce(v_stats -> 'details', '{}'::jsonb),
         errors = r.errors || v_errors
   where r.id = p_run_id
     and r.status = 'running'
  returning * into v_run;

  if not found then
    select * into v_run from public.scheduler_runs where id = p_run_id;
    if not found then
      raise exception 'scheduler run % does not exist', p_run_id using errcode = 'no_data_found';
    end if;
  end if;
  return v_run;
end;
$$;

comment on function public.finish_scheduler_run(bigint, public.scheduler_run_status, jsonb, jsonb, timestamptz) is
  'Finishes a running run-log row with its status, counts (p_stats) and errors (JSON array). ok with errors becomes partial. Idempotent: a finished run is returned unchanged.';

-- Runs left 'running' by a tick that crashed or was killed are marked failed.
create function public.fail_abandoned_runs(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_count integer;
begin
  v_settings := public._settings();
  update public.scheduler_runs r
     set status = 'failed',
         finished_at = greatest(p_now, r.started_at),
         duration_ms = greatest(0, round(extract(epoch from (greatest(p_now, r.started_at) - r.started_at)) * 1000))::integer,
         errors = r.errors || jsonb_build_array(jsonb_build_object(
           'stage', 'abandoned',
           'message', 'the tick stopped before recording its end (crash, kill or timeout)'))
   where r.status = 'running'
     and r.started_at < p_now - v_settings.abandoned_run_timeout;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

comment on function public.fail_abandoned_runs(timestamptz) is
  'Marks runs still running after scheduler_settings.abandoned_run_timeout as failed (the tick crashed or was killed). Returns how many.';

revoke all on function public.start_scheduler_run(public.scheduler_trigger, timestamptz, jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public.finish_scheduler_run(bigint, public.scheduler_run_status, jsonb, jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public.fail_abandoned_runs(timestamptz) from public, anon, authenticated;
grant execute on function public.start_scheduler_run(public.scheduler_trigger, timestamptz, jsonb, timestamptz) to service_role;
grant execute on function public.finish_scheduler_run(bigint, public.scheduler_run_status, jsonb, jsonb, timestamptz) to service_role;
grant execute on function public.fail_abandoned_runs(timestamptz) to service_role;
