-- Scheduler settings: one row, editable in Supabase Studio. Every setting has a default and a bound.
create table public.scheduler_settings (
  id boolean primary key default true,
  global_max_concurrent_calls integer not null default 100,
  campaigns_per_tick integer not null default 1000,
  provider_calls_per_second numeric not null default 1,
  dispatch_concurrency integer not null default 10,
  dispatch_batch_size integer not null default 50,
  provider_request_timeout_ms integer not null default 8000,
  tick_budget_ms integer not null default 10000,
  breaker_failure_threshold integer not null default 5,
  breaker_cooldown interval not null default '60 seconds',
  queued_call_ttl interval not null default '10 minutes',
  stuck_call_timeout interval not null default '15 minutes',
  max_call_duration interval not null default '4 hours',
  abandoned_run_timeout interval not null default '10 minutes',
  run_log_retention interval not null default '30 days',
  manual_trigger_min_interval interval not null default '10 seconds',
  -- Calls per phone number per rolling 24 hours, across all campaigns (null: no limit). Several US
  -- states allow 3 calls per 24 hours on the same subject.
  max_calls_per_number_per_day integer,
  -- Continuous dispatch: after a tick has answered (inside tick_budget_ms), its dispatcher goes on
  -- in the background (EdgeRuntime.waitUntil) until background_dispatch_ms after the tick started,
  -- or until the next tick takes the dispatch lease over; 0 = dispatch only inside the tick. The
  -- default outlasts the minute between ticks (a late tick still finds a dispatcher running) and
  -- stays inside Supabase's wall-clock limit of a function (150 s on the free plan).
  background_dispatch_ms integer not null default 90000,
  -- While dispatching in the background, a queue that ran dry triggers a reservation (refilling
  -- the slots freed by final status callbacks) at most this often.
  refill_interval_ms integer not null default 1000,
  -- The provider's rate is a token bucket in the database (provider_accounts.next_send_at): calls
  -- are spaced (1000 + rate_margin_ms) / calls_per_second ms apart, and a dispatcher that would
  -- send a call more than rate_margin_ms / 2 after its slot gives the slot up, so no one-second
  -- window as the provider sees it ever holds more than calls_per_second requests.
  rate_margin_ms integer not null default 30,
  -- A call in dialing or unknown for this long (a lost create-call answer, a lost final callback, a
  -- crashed function) is looked up at the provider by each tick, at most this often per call, and
  -- settled from what the provider says, well before the reaper's stuck_call_timeout.
  provider_check_after interval not null default '2 minutes',
  -- The whole scheduler paused (set_scheduler_paused(), e.g. for an upgrade): set, no tick reserves
  -- and no dispatcher claims a call; status callbacks are still recorded and queued calls stay queued.
  paused_at timestamptz,
  paused_reason text,
  updated_at timestamptz not null default now(),
  constraint scheduler_settings_single_row check (id),
  constraint scheduler_settings_global_cap_is_positive check (global_max_concurrent_calls between 1 and 1000000),
  constraint scheduler_settings_campaigns_per_tick_is_positive check (campaigns_per_tick between 1 and 1000000),
  constraint scheduler_settings_cps_is_sane check (provider_calls_per_second > 0 and provider_calls_per_second <= 10000),
  constraint scheduler_settings_concurrency_is_sane check (dispatch_concurrency between 1 and 1000),
  constraint scheduler_settings_batch_size_is_sane check (dispatch_batch_size between 1 and 10000),
  constraint scheduler_settings_request_timeout_is_sane check (provider_request_timeout_ms between 100 and 60000),
  constraint scheduler_settings_budget_is_sane check (tick_budget_ms between 1000 and 300000),
  constraint scheduler_settings_breaker_threshold_is_positive check (breaker_failure_threshold between 1 and 1000),
  constraint scheduler_settings_breaker_cooldown_is_sane check (breaker_cooldown between interval '1 second' and interval '1 day'),
  constraint scheduler_settings_queued_ttl_is_sane check (queued_call_ttl between interval '1 minute' and interval '1 day'),
  constraint scheduler_settings_stuck_timeout_is_sane check (stuck_call_timeout between interval '1 minute' and interval '1 day'),
  constraint scheduler_settings_max_call_duration_is_sane check (max_call_duration between interval '1 minute' and interval '2 days'),
  constraint scheduler_settings_abandoned_run_timeout_is_sane check (abandoned_run_timeout between interval '1 minute' and interval '1 day'),
  constraint scheduler_settings_retention_is_sane check (run_log_retention between interval '1 hour' and interval '3650 days'),
  constraint scheduler_settings_manual_interval_is_sane check (manual_trigger_min_interval between interval '0' and interval '1 hour'),
  constraint scheduler_settings_calls_per_number_is_sane check (max_calls_per_number_per_day between 1 and 100),
  constraint scheduler_settings_background_dispatch_is_sane check (background_dispatch_ms between 0 and 400000),
  constraint scheduler_settings_refill_interval_is_sane check (refill_interval_ms between 100 and 60000),
  constraint scheduler_settings_rate_margin_is_sane check (rate_margin_ms between 0 and 500),
  constraint scheduler_settings_provider_check_is_sane check (provider_check_after between interval '1 second' and interval '1 day'),
  constraint scheduler_settings_paused_reason_only_when_paused check (paused_reason is null or paused_at is not null),
  constraint scheduler_settings_paused_reason_is_sane check (char_length(paused_reason) between 1 and 500)
);

comment on table public.scheduler_settings is
  'Scheduler settings (one row). global_max_concurrent_calls caps active calls across all campaigns; provider_calls_per_second paces the dispatcher (Twilio accounts default to 1); tick_budget_ms is the time budget of one tick, jitter included; the breaker opens after breaker_failure_threshold consecutive provider failures for breaker_cooldown; max_calls_per_number_per_day (null: off) caps the calls reserved to one phone number in any rolling 24 hours across all campaigns (released calls not counted). background_dispatch_ms: how long after a tick started its dispatcher goes on after the answer (0: only inside the tick); refill_interval_ms: how often a background dispatcher with an empty queue reserves again; rate_margin_ms: slack kept in every one-second window of the provider rate; provider_check_after: how long a call may stay dialing or unknown before a tick asks the provider about it (and how often it asks again); paused_at / paused_reason: the whole scheduler paused (set_scheduler_paused()): nothing reserved, nothing claimed, callbacks still recorded.';

insert into public.scheduler_settings default values;

alter table public.scheduler_settings enable row level security;
revoke all on table public.scheduler_settings from anon, authenticated;

-- The settings row; recreated with defaults if someone deleted it.
create function public._settings()
returns public.scheduler_settings
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
begin
  select * into v_settings from public.scheduler_settings where id;
  if not found then
    insert into public.scheduler_settings default values
    on conflict (id) do nothing;
    select * into strict v_settings from public.scheduler_settings where id;
  end if;
  return v_settings;
end;
$$;

revoke all on function public._settings() from public, anon, authenticated;
grant execute on function public._settings() to service_role;

-- Pausing the whole scheduler (an upgrade that must not run beside dispatch, an incident): while
-- paused_at is set, reserve_due_calls() reserves nothing (outcome 'paused'), claim_queued_calls()
-- claims nothing, and the ticks record their runs as skipped. Calls already claimed when the pause
-- commits are still sent (at most one claim per dispatcher); queued calls stay queued; status
-- callbacks are recorded as always.
create function public.scheduler_paused()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce((select s.paused_at is not null from public.scheduler_settings s where s.id), false);
$$;

comment on function public.scheduler_paused() is
  'True while the whole scheduler is paused (scheduler_settings.paused_at set by set_scheduler_paused()).';

revoke all on function public.scheduler_paused() from public, anon, authenticated;
grant execute on function public.scheduler_paused() to service_role;

-- set_scheduler_paused(): pauses (p_paused true, with a reason) or resumes the whole scheduler.
-- Pausing again keeps the first paused_at (and takes the new reason); resuming clears both.
create function public.set_scheduler_paused(
  p_paused boolean,
  p_reason text default null,
  p_now timestamptz default now()
)
returns table (paused_at timestamptz, paused_reason text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_paused is null then
    raise exception 'p_paused must be true or false' using errcode = 'invalid_parameter_value';
  end if;
  if p_reason is not null and (char_length(btrim(p_reason)) = 0 or char_length(p_reason) > 500) then
    raise exception 'the reason must be 1 to 500 characters' using errcode = 'invalid_parameter_value';
  end if;
  perform public._settings();
  return query
  update public.scheduler_settings s
     set paused_at = case when p_paused then coalesce(s.paused_at, p_now) end,
         paused_reason = case when p_paused then coalesce(btrim(p_reason), s.paused_reason) end,
         updated_at = p_now
   where s.id
  returning s.paused_at, s.paused_reason;
end;
$$;

comment on function public.set_scheduler_paused(boolean, text, timestamptz) is
  'Pauses (p_paused true, with an optional reason) or resumes (false) the whole scheduler: while paused no tick reserves and no dispatcher claims a call. Pausing again keeps the first paused_at. Returns the new paused_at and paused_reason.';

revoke all on function public.set_scheduler_paused(boolean, text, timestamptz) from public, anon, authenticated;
grant execute on function public.set_scheduler_paused(boolean, text, timestamptz) to service_role;
