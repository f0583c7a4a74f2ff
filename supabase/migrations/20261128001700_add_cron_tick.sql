-- The pg_cron side of the scheduler: every minute, reserve_due_calls() (housekeeping plus
-- launch_due_calls()), recorded in the run log as trigger 'pg_cron'; every day, the purge.

-- run_cron_tick(): one pg_cron tick. Always leaves exactly one run-log row: ok / partial / failed /
-- skipped (another launch was running, or the scheduler is paused) / duplicate (this minute already ran). Errors, including a
-- statement timeout, are caught and recorded; the work of a failed tick is rolled back.
create function public.run_cron_tick(p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_run_id bigint;
  v_duplicate_of bigint;
  v_step record;
  v_stats jsonb := '{}'::jsonb;
  v_errors jsonb := '[]'::jsonb;
  v_status public.scheduler_run_status;
  v_message text;
  v_clock_start timestamptz := pg_catalog.clock_timestamp();
begin
  -- The run starts at p_now (the tick's clock, which tests may set) and lasts as long as the work
  -- really takes.
  select s.run_id, s.duplicate_of into v_run_id, v_duplicate_of
    from public.start_scheduler_run('pg_cron', p_now, '{}'::jsonb, p_now) s;
  if v_duplicate_of is not null then
    return jsonb_build_object('run_id', v_run_id, 'status', 'duplicate', 'duplicate_of', v_duplicate_of);
  end if;

  begin
    select * into strict v_step from public.reserve_due_calls(v_run_id, p_now);
    v_errors := (select coalesce(jsonb_agg(jsonb_build_object(
                   'stage', 'reserve', 'campaign_id', (p.value ->> 'campaign_id')::bigint,
                   'message', p.value ->> 'message') order by p.ord), '[]'::jsonb)
                   from jsonb_array_elements(v_step.problems) with ordinality as p(value, ord));
    v_stats := jsonb_build_object(
      'campaigns_processed', v_step.campaigns_processed,
      'calls_reserved', v_step.calls_reserved,
      'campaigns_completed', v_step.campaigns_completed,
      'calls_released', v_step.calls_released,
      'calls_expired', v_step.calls_expired);
    v_status := case when v_step.outcome in ('busy', 'paused') then 'skipped'::public.scheduler_run_status
                     when jsonb_array_length(v_errors) > 0 then 'partial'::public.scheduler_run_status
                     else 'ok'::public.scheduler_run_status end;
  exception
    when others or query_canceled then
      get stacked diagnostics v_message = message_text;
      v_status := 'failed'::public.scheduler_run_status;
      v_errors := jsonb_build_array(jsonb_build_object('stage', 'tick', 'message', v_message,
                                                       'sqlstate', sqlstate));
      v_stats := '{}'::jsonb;
  end;

  perform public.finish_scheduler_run(
    v_run_id, v_status,
    jsonb_build_object(
      'campaigns_processed', coalesce((v_stats ->> 'campaigns_processed')::integer, 0),
      'calls_reserved', coalesce((v_stats ->> 'calls_reserved')::integer, 0),
      'campaigns_completed', coalesce((v_stats ->> 'campaigns_completed')::integer, 0),
      'calls_released', coalesce((v_stats ->> 'calls_released')::integer, 0),
      'calls_expired', coalesce((v_stats ->> 'calls_expired')::integer, 0)),
    v_errors,
    p_now + (pg_catalog.clock_timestamp() - v_clock_start));
  return jsonb_build_object('run_id', v_run_id, 'status', v_status,
                            'calls_reserved', coalesce((v_stats ->> 'calls_reserved')::integer, 0),
                            'campaigns_processed', coalesce((v_stats ->> 'campaigns_processed')::integer, 0),
                            'errors', v_errors);
end;
$$;

comment on function public.run_cron_tick(timestamptz) is
  'One pg_cron tick: reserve_due_calls() (housekeeping + launch_due_calls()), recorded as one scheduler_runs row (trigger pg_cron, scheduled for the current minute). Never raises: failures are recorded in the run row.';

-- ensure_scheduler_cron_jobs(): (re)creates the named pg_cron jobs; running it again updates them
-- in place and never creates a second job.
create function public.ensure_scheduler_cron_jobs(
  p_tick_schedule text default '* * * * *',
  p_purge_schedule text default '17 3 * * *'
)
returns table (jobname text, jobid bigint, schedule text, command text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed: enable the pg_cron extension (on Debian: apt-get install postgresql-15-cron, and add pg_cron to shared_preload_libraries)'
      using errcode = 'undefined_object';
  end if;
  perform cron.schedule('campaign-scheduler-tick', p_tick_schedule, 'select public.run_cron_tick()');
  perform cron.schedule('campaign-scheduler-purge', p_purge_schedule, 'select public.purge_scheduler_history()');
  return query
    select j.jobname::text, j.jobid, j.schedule::text, j.command::text
      from cron.job j
     where j.jobname in ('campaign-scheduler-tick', 'campaign-scheduler-purge')
     order by j.jobname;
end;
$$;

comment on function public.ensure_scheduler_cron_jobs(text, text) is
  'Creates or updates the pg_cron jobs campaign-scheduler-tick (run_cron_tick(), every minute) and campaign-scheduler-purge (purge_scheduler_history(), daily). Idempotent.';

revoke all on function public.run_cron_tick(timestamptz) from public, anon, authenticated;
revoke all on function public.ensure_scheduler_cron_jobs(text, text) from public, anon, authenticated;
grant execute on function public.run_cron_tick(timestamptz) to service_role;

select public.ensure_scheduler_cron_jobs();
