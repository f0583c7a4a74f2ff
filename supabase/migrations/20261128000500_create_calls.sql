-- One row per dial attempt (reservation). Rows are never deleted by the scheduler.
create table public.calls (
  id bigint generated always as identity primary key,
  -- No foreign key to campaigns: the contact references its campaign, so deleting a campaign still
  -- removes its contacts and their calls, and a tick checks one key per reserved call, not two.
  campaign_id bigint not null,
  contact_id bigint not null references public.contacts (id) on delete cascade,
  attempt integer not null,
  status public.call_status not null default 'queued',
  provider text not null default 'twilio',
  provider_call_id text,
  to_phone text not null,
  run_id bigint references public.scheduler_runs (id) on delete set null,
  dispatch_run_id bigint references public.scheduler_runs (id) on delete set null,
  dispatch_after timestamptz not null default now(),
  queued_at timestamptz not null default now(),
  dialed_at timestamptz,
  provider_accepted_at timestamptz,
  ringing_at timestamptz,
  answered_at timestamptz,
  ended_at timestamptz,
  released_at timestamptz,
  duration_seconds integer,
  -- Who answered, as the provider reported it (Twilio AnsweredBy: human, machine_start,
  -- machine_end_beep, machine_end_silence, machine_end_other, fax, unknown; any other value is kept
  -- as sent, at most 64 characters, and treated as a person).
  answered_by text,
  error text,
  error_code text,
  -- When a tick last asked the provider about this call (settle_call_from_provider()).
  provider_checked_at timestamptz,
  -- What allowed the call when it was claimed for dialling (claim_queued_calls()): when, the zones
  -- the calling-hours rules were checked in and where they came from, and the enabled rules that
  -- matched the number. The facts to answer a complaint with.
  dial_evidence jsonb,
  updated_at timestamptz not null default now(),
  constraint calls_attempt_is_positive check (attempt > 0),
  constraint calls_answered_by_is_short check (length(answered_by) <= 64),
  constraint calls_released_only_when_canceled check (released_at is null or status = 'canceled'),
  constraint calls_released_were_never_dialed check (released_at is null or dialed_at is null),
  constraint calls_final_have_ended_at check (
    (status in ('completed', 'busy', 'no_answer', 'failed', 'canceled')) = (ended_at is not null)
  )
);

comment on table public.calls is
  'One row per dial attempt. Active statuses (queued, dialing, unknown, ringing, in_progress) hold a slot of the campaign cap and of the global cap. released_at is set when a queued call was cancelled before it was ever sent (does not count as an attempt).';

-- Invariant 2 backstop: a contact never has two active calls. launch_due_calls() never relies on it.
create unique index calls_one_active_per_contact on public.calls (contact_id)
  where status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress');
-- One person, one call: at most one active call per phone number, across all campaigns.
-- launch_due_calls() never reserves a number with an active call; this backs it.
create unique index calls_one_active_per_number on public.calls (to_phone)
  where status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress');
-- Calls per number per rolling 24 hours (scheduler_settings.max_calls_per_number_per_day).
create index calls_per_number_recent_idx on public.calls (to_phone, queued_at) where released_at is null;
-- (contact, attempt) is unique among calls that were not released before dialling.
create unique index calls_one_row_per_attempt on public.calls (contact_id, attempt) where released_at is null;
-- Status callbacks find calls by the provider's id.
create unique index calls_provider_call_id_key on public.calls (provider, provider_call_id) where provider_call_id is not null;
-- Counting active calls per campaign (the cap) and globally.
create index calls_active_by_campaign_idx on public.calls (campaign_id)
  where status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress');
-- The dispatcher claims queued calls in this order.
create index calls_queued_idx on public.calls (dispatch_after, id) where status = 'queued';
-- The reaper looks for calls stuck in dialing/unknown/ringing/in_progress.
create index calls_in_flight_idx on public.calls (dialed_at) where status in ('dialing', 'unknown', 'ringing', 'in_progress');
create index calls_contact_id_idx on public.calls (contact_id);
create index calls_ended_at_idx on public.calls (ended_at) where ended_at is not null;

alter table public.calls enable row level security;
revoke all on table public.calls from anon, authenticated;
revoke all on sequence public.calls_id_seq from anon, authenticated;
