-- The scheduler run log: exactly one row per tick, whatever happened. Read it in Studio.
create table public.scheduler_runs (
  id bigint generated always as identity primary key,
  trigger public.scheduler_trigger not null,
  scheduled_for timestamptz,
  status public.scheduler_run_status not null default 'running',
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  duration_ms integer,
  campaigns_processed integer not null default 0,
  calls_reserved integer not null default 0,
  calls_launched integer not null default 0,
  calls_failed integer not null default 0,
  calls_unknown integer not null default 0,
  calls_requeued integer not null default 0,
  calls_released integer not null default 0,
  calls_expired integer not null default 0,
  campaigns_completed integer not null default 0,
  breaker_state text,
  -- Duplicates belong to their run and are purged with it.
  duplicate_of bigint references public.scheduler_runs (id) on delete cascade,
  errors jsonb not null default '[]'::jsonb,
  details jsonb not null default '{}'::jsonb,
  constraint scheduler_runs_errors_is_array check (jsonb_typeof(errors) = 'array'),
  constraint scheduler_runs_details_is_object check (jsonb_typeof(details) = 'object'),
  constraint scheduler_runs_finished_after_start check (finished_at is null or finished_at >= started_at),
  constraint scheduler_runs_finished_unless_running check ((status = 'running') = (finished_at is null)),
  constraint scheduler_runs_scheduled_minute check (scheduled_for is null or scheduled_for = date_trunc('minute', scheduled_for)),
  constraint scheduler_runs_counts_not_negative check (
    least(campaigns_processed, calls_reserved, calls_launched, calls_failed, calls_unknown,
          calls_requeued, calls_released, calls_expired, campaigns_completed) >= 0
  )
);

comment on table public.scheduler_runs is
  'One row per scheduler tick (pg_cron, vercel, manual, local): status ok / partial / failed / skipped / duplicate, counts per stage and errors (JSON array of {campaign_id?, call_id?, stage, message}). A second delivery of the same trigger''s scheduled minute is recorded as duplicate and does no work.';
comment on column public.scheduler_runs.calls_reserved is 'Calls reserved: rows launch_due_calls() inserted (status queued) during this tick.';
comment on column public.scheduler_runs.calls_launched is 'Calls launched: accepted by the provider during this tick (the tick''s "launched").';

-- Tick identity: one real run per (trigger, scheduled minute).
create unique index scheduler_runs_one_per_trigger_minute on public.scheduler_runs (trigger, scheduled_for)
  where duplicate_of is null and scheduled_for is not null;
create index scheduler_runs_started_at_idx on public.scheduler_runs (started_at desc);
create index scheduler_runs_running_idx on public.scheduler_runs (started_at) where status = 'running';

alter table public.scheduler_runs enable row level security;
revoke all on table public.scheduler_runs from anon, authenticated;

revoke all on sequence public.scheduler_runs_id_seq from anon, authenticated;
