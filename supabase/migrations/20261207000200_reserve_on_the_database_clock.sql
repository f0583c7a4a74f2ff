-- reserve_due_calls() on the database's clock: p_now null reserves at the instant the reservation
-- runs, read (clock_timestamp()) once the reservation's lock is held, right before
-- launch_due_calls() takes its snapshot. A time read by the caller is older than the snapshot by
-- however long its statement waited for a connection and for the housekeeping: a campaign resumed
-- in between was seen running and its calls were stamped queued at an instant it was still paused
-- (and the calling window and the calling hours were judged at that older instant). Read after the
-- lock, the instant is also ordered with every change made under the same lock: a change that
-- commits before the reservation holds the lock is older than the instant and seen by the
-- snapshot; one made after waits for the reservation's commit. The scheduler-tick function passes
-- null unless it is given a clock of its own (tests), and so does run_cron_tick() (below); p_now
-- given is the clock as before.
create or replace function public.reserve_due_calls(
  p_run_id bigint,
  p_now timestamptz default now(),
  p_housekeeping boolean default true
)
returns table (
  outcome public.reservation_outcome,
  campaigns_processed integer,
  calls_reserved integer,
  campaigns_completed integer,
  calls_released integer,
  calls_expired integer,
  problems jsonb
)
language plpgsql
set search_path = ''
as $$
declare
  v_housekeeping jsonb;
begin
  -- The whole scheduler paused (set_scheduler_paused()): nothing at all, housekeeping included.
  if public.scheduler_paused() then
    return query select 'paused'::public.reservation_outcome, 0, 0, 0, 0, 0, '[]'::jsonb;
    return;
  end if;
  -- A refill (a background dispatcher whose queue ran dry) reserves without the housekeeping the
  -- tick already ran.
  v_housekeeping := case when p_housekeeping then public.run_housekeeping(coalesce(p_now, pg_catalog.clock_timestamp()))
                         else '{"calls_released": 0, "calls_expired": 0}'::jsonb end;
  -- The reservation's lock (launch_due_calls() takes it again: a session's advisory locks stack)
  -- before the clock is read; busy: another reservation holds it, as launch_due_calls() answers.
  if p_now is null and not pg_catalog.pg_try_advisory_xact_lock(public._lock_key('launch_due_calls')) then
    return query select 'busy'::public.reservation_outcome, 0, 0, 0,
                        (v_housekeeping ->> 'calls_released')::integer,
                        (v_housekeeping ->> 'calls_expired')::integer, '[]'::jsonb;
    return;
  end if;
  return query
  select case when pg_catalog.bool_or(l.outcome = 'busy') then 'busy' else 'reserved' end::public.reservation_outcome,
         (count(*) filter (where l.outcome not in ('busy', 'completed')))::integer,
         coalesce(sum(l.reserved), 0)::integer,
         (count(*) filter (where l.outcome = 'completed'))::integer,
         (v_housekeeping ->> 'calls_released')::integer,
         (v_housekeeping ->> 'calls_expired')::integer,
         coalesce(jsonb_agg(jsonb_build_object('campaign_id', l.campaign_id::text,
                                               'message', 'malformed campaign: ' || l.problem)
                            order by l.ord) filter (where l.outcome = 'set_up_problem'), '[]'::jsonb)
    from public.launch_due_calls(coalesce(p_now, pg_catalog.clock_timestamp()), null, p_run_id) with ordinality
           as l (campaign_id, outcome, reserved, active_calls, max_concurrent_calls, campaign_status, problem, ord);
end;
$$;

comment on function public.reserve_due_calls(bigint, timestamptz, boolean) is
  'One reservation step: run_housekeeping() (unless p_housekeeping is false: a refill) then launch_due_calls(p_now, null, p_run_id) in the caller''s transaction. p_now null: the database''s clock, read for each of the two right before it runs (for the reservation once its lock is held). Does nothing while the scheduler is paused (outcome paused). Returns one row: outcome (reserved, busy when another reservation held the lock, paused), campaigns_processed, calls_reserved, campaigns_completed, calls_released, calls_expired, problems (JSON array of {campaign_id, message} for campaigns that cannot dial).';

-- run_cron_tick() on the database's clock too: p_now null (now the default, what the pg_cron job
-- calls) stamps the run row at the transaction's start, as before, and hands the reservation null,
-- so that it reads the clock once it holds its lock instead of at the transaction's start (the
-- run row and the housekeeping come first). p_now given (tests) is the clock of all of it.
create or replace function public.run_cron_tick(p_now timestamptz default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_now timestamptz := coalesce(p_now, now());
  v_run_id bigint;
  v_duplicate_of bigint;
  v_step record;
  v_stats jsonb := '{}'::jsonb;
  v_errors jsonb := '[]'::jsonb;
  v_status public.scheduler_run_status;
  v_message text;
  v_clock_start timestamptz := pg_catalog.clock_timestamp();
begin
  -- The run starts at v_now (the tick's clock, which tests may set) and lasts as long as the work
  -- really takes.
  select s.run_id, s.duplicate_of into v_run_id, v_duplicate_of
    from public.start_scheduler_run('pg_cron', v_now, '{}'::jsonb, v_now) s;
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
    v_now + (pg_catalog.clock_timestamp() - v_clock_start));
  return jsonb_build_object('run_id', v_run_id, 'status', v_status,
                            'calls_reserved', coalesce((v_stats ->> 'calls_reserved')::integer, 0),
                            'campaigns_processed', coalesce((v_stats ->> 'campaigns_processed')::integer, 0),
                            'errors', v_errors);
end;
$$;

comment on function public.run_cron_tick(timestamptz) is
  'One pg_cron tick: reserve_due_calls() (housekeeping + launch_due_calls()), recorded as one scheduler_runs row (trigger pg_cron, scheduled for the current minute). p_now null (the default): the run row at the transaction''s start, the reservation on the database''s clock once it holds its lock; p_now given: the clock of all of it. Never raises: failures are recorded in the run row.';
