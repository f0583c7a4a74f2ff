-- Housekeeping: everything that keeps "nothing is lost" true (invariant 6 in docs/ARCHITECTURE.md).

-- run_housekeeping(): release queued calls nobody dispatched, expire calls stuck without a final
-- status, and mark crashed runs failed. Returns the counts as JSON.
create function public.run_housekeeping(p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_released integer;
  v_expired integer;
  v_abandoned integer;
begin
  v_released := public.release_stale_queued_calls(p_now);
  v_expired := public.expire_stuck_calls(p_now);
  v_abandoned := public.fail_abandoned_runs(p_now);
  return jsonb_build_object('calls_released', v_released, 'calls_expired', v_expired,
                            'runs_abandoned', v_abandoned);
end;
$$;

comment on function public.run_housekeeping(timestamptz) is
  'Releases stale queued calls, expires stuck calls (reaper) and fails abandoned runs. Returns {calls_released, calls_expired, runs_abandoned}.';

-- purge_scheduler_history(): deletes run-log rows and pg_cron's job_run_details older than
-- scheduler_settings.run_log_retention. Calls are kept (they are the campaign's history).
create function public.purge_scheduler_history(p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_runs integer;
  v_cron integer := 0;
begin
  v_settings := public._settings();
  delete from public.scheduler_runs r
   where r.started_at < p_now - v_settings.run_log_retention
     and r.status <> 'running';
  get diagnostics v_runs = row_count;

  if pg_catalog.to_regclass('cron.job_run_details') is not null then
    execute 'delete from cron.job_run_details where end_time < $1'
      using p_now - v_settings.run_log_retention;
    get diagnostics v_cron = row_count;
  end if;
  return jsonb_build_object('scheduler_runs_deleted', v_runs, 'cron_job_run_details_deleted', v_cron);
end;
$$;

comment on function public.purge_scheduler_history(timestamptz) is
  'Deletes scheduler_runs rows and cron.job_run_details rows older than scheduler_settings.run_log_retention. Returns the counts.';

revoke all on function public.run_housekeeping(timestamptz) from public, anon, authenticated;
revoke all on function public.purge_scheduler_history(timestamptz) from public, anon, authenticated;
grant execute on function public.run_housekeeping(timestamptz) to service_role;
grant execute on function public.purge_scheduler_history(timestamptz) to service_role;
