-- A calling campaign: who calls (caller_id, provider settings), how many at once
-- (max_concurrent_calls), when (calling window in time_zone), and how often (max_attempts, and
-- per outcome of a call whether and after how long the contact is tried again: retry_*).
create table public.campaigns (
  id bigint generated always as identity primary key,
  name text not null,
  status public.campaign_status not null default 'QUEUED',
  max_concurrent_calls integer not null default 5,
  priority integer not null default 0,
  -- The platform, always its account's kind (campaigns_provider_matches_account; set from the
  -- account by the trigger campaigns_provider_from_account): twilio, signalwire, vapi or retell.
  provider text not null default 'twilio',
  -- The account the calls are created under: its rate and concurrency apply besides the caps here.
  provider_account text not null default 'default' references public.provider_accounts (id),
  caller_id text,
  provider_settings jsonb not null default '{}'::jsonb,
  time_zone text not null default 'UTC',
  window_start time not null default '09:00',
  window_end time not null default '20:00',
  window_days smallint[] not null default '{1,2,3,4,5}',
  max_attempts integer not null default 3,
  -- Retry rules by outcome, all under max_attempts: whether a call that ended busy / no answer /
  -- failed is tried again, and after how long from the call's end; a call answered by a machine
  -- is tried again per machine_answer_policy, after retry_machine_delay. The defaults follow the
  -- usual practice of outbound dialers (docs/OPERATOR.md, "Retry rules"): a busy line is retried
  -- soon (the person is there, on another call), an unanswered one hours later (another part of
  -- the day), an answering machine later still, a failed call (network, carrier) after a short pause.
  retry_busy boolean not null default true,
  retry_busy_delay interval not null default '10 minutes',
  retry_no_answer boolean not null default true,
  retry_no_answer_delay interval not null default '2 hours',
  retry_machine_delay interval not null default '4 hours',
  retry_failed boolean not null default true,
  retry_failed_delay interval not null default '30 minutes',
  -- What a call answered by a machine means (the provider reports AnsweredBy when
  -- provider_settings.machine_detection asks for detection): 'retry' (no person was reached: the
  -- contact is tried again like a no-answer) or 'done' (a message was left: the contact is done).
  machine_answer_policy text not null default 'retry',
  -- Why the campaign calls: 'telemarketing', 'informational' or 'debt_collection'; null: not
  -- stated, and then every calling-hours rule applies, whatever purposes it covers (the strictest).
  purpose text,
  -- Whether a contact is called only with valid consent (contacts.consent_at given at or before the
  -- moment, consent_expires_at null or later): checked when a call is reserved and again when it is
  -- dialled.
  requires_consent boolean not null default false,
  -- When the campaign may start reserving calls (null: at once) and when it stops (null: never).
  -- Before starts_at nothing is reserved; from ends_at on nothing is reserved, its queued calls
  -- are released at claim, and the scheduler marks it COMPLETED once no call of it is active.
  starts_at timestamptz,
  ends_at timestamptz,
  -- Why the campaign cannot dial, or null when it can: it needs a caller id and what the provider
  -- does when the call is answered: for twilio and signalwire exactly one of provider_settings.url /
  -- twiml / application_sid; for vapi provider_settings.assistant_id and phone_number_id (the Vapi
  -- number the caller id stands for); retell needs nothing more (override_agent_id is optional:
  -- the caller id's own agent answers). Computed here once; launch_due_calls() reports it and
  -- reserves nothing, claim_queued_calls() releases the campaign's queued calls with it.
  set_up_problem text generated always as (
    case
      when caller_id is null then 'caller_id is not set'
      when provider in ('twilio', 'signalwire')
           and pg_catalog.num_nonnulls(provider_settings ->> 'url', provider_settings ->> 'twiml',
                                       provider_settings ->> 'application_sid') <> 1
        then 'provider_settings needs exactly one of url, twiml, application_sid'
      when provider = 'vapi'
           and (provider_settings ->> 'assistant_id' is null or provider_settings ->> 'phone_number_id' is null)
        then 'provider_settings needs assistant_id and phone_number_id (vapi)'
    end
  ) stored,
  -- Why the campaign is PAUSED, when the scheduler paused it (a campaign-level refusal by the
  -- provider: caller id, answer URL, account); null otherwise. Cleared when it leaves PAUSED.
  paused_reason text,
  paused_at timestamptz,
  last_served_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint campaigns_name_is_not_blank check (length(btrim(name)) between 1 and 200),
  constraint campaigns_cap_is_positive check (max_concurrent_calls > 0),
  constraint campaigns_caller_id_is_e164 check (caller_id is null or caller_id ~ '^\+[1-9][0-9]{6,14}$'),
  constraint campaigns_provider_is_known check (provider in ('twilio', 'signalwire', 'vapi', 'retell')),
  constraint campaigns_provider_matches_account foreign key (provider_account, provider)
    references public.provider_accounts (id, provider),
  constraint campaigns_provider_settings_is_object check (jsonb_typeof(provider_settings) = 'object'),
  constraint campaigns_window_is_not_empty check (window_start <> window_end),
  constraint campaigns_window_days_are_iso_weekdays check (
    cardinality(window_days) between 1 and 7 and window_days <@ '{1,2,3,4,5,6,7}'::smallint[]
  ),
  constraint campaigns_max_attempts_is_positive check (max_attempts between 1 and 100),
  constraint campaigns_purpose_is_known check (purpose in ('telemarketing', 'informational', 'debt_collection')),
  constraint campaigns_retry_busy_delay_is_sane check (retry_busy_delay > interval '0' and retry_busy_delay <= interval '30 days'),
  constraint campaigns_retry_no_answer_delay_is_sane check (retry_no_answer_delay > interval '0' and retry_no_answer_delay <= interval '30 days'),
  constraint campaigns_retry_machine_delay_is_sane check (retry_machine_delay > interval '0' and retry_machine_delay <= interval '30 days'),
  constraint campaigns_retry_failed_delay_is_sane check (retry_failed_delay > interval '0' and retry_failed_delay <= interval '30 days'),
  constraint campaigns_machine_answer_policy_is_known check (machine_answer_policy in ('retry', 'done')),
  constraint campaigns_paused_reason_only_when_paused check (paused_reason is null or status = 'PAUSED'),
  constraint campaigns_ends_after_starts check (starts_at is null or ends_at is null or ends_at > starts_at)
)
-- Room on each page, so that the tick's update of last_served_at stays HOT (no index entry
-- written). No index of active campaigns: the tick reads every active campaign anyway.
with (fillfactor = 70);

comment on table public.campaigns is
  'Outbound calling campaigns. The scheduler serves QUEUED and RUNNING ones every minute, never exceeding max_concurrent_calls active calls, only inside the calling window (window_start..window_end on window_days, ISO 1=Monday, in time_zone; window_start > window_end means overnight).';
comment on column public.campaigns.set_up_problem is 'Why the campaign cannot dial (no caller_id; twilio / signalwire: not exactly one of provider_settings.url / twiml / application_sid; vapi: no provider_settings.assistant_id or phone_number_id), or null. Generated.';
comment on column public.campaigns.provider is 'The platform the calls go to: its provider account''s kind (twilio, signalwire, vapi, retell), set from the account on insert and whenever provider_account changes.';
comment on column public.campaigns.provider_account is 'The provider account (provider_accounts) the calls are created under; its calls_per_second and max_concurrent_calls apply too.';
comment on column public.campaigns.last_served_at is 'When launch_due_calls() last reserved calls for (or examined) this campaign; least recently served go first.';

comment on column public.campaigns.retry_busy is 'Whether a contact whose call ended busy is called again (while attempts remain), retry_busy_delay after the call ended. Default true, 10 minutes.';
comment on column public.campaigns.retry_no_answer is 'Whether a contact whose call was not answered is called again (while attempts remain), retry_no_answer_delay after the call ended. Default true, 2 hours.';
comment on column public.campaigns.retry_machine_delay is 'How long after a call answered by a machine the contact is called again, when machine_answer_policy is retry (while attempts remain). Default 4 hours.';
comment on column public.campaigns.retry_failed is 'Whether a contact whose call failed (not placed, network, expired without a final status; not an invalid number) is called again (while attempts remain), retry_failed_delay after the call ended. Default true, 30 minutes.';
comment on column public.campaigns.machine_answer_policy is 'A call answered by a machine (calls.answered_by machine_* or fax): retry (default: tried again after retry_machine_delay) or done (message left). Detection is requested by provider_settings.machine_detection.';
comment on column public.campaigns.purpose is 'Why the campaign calls: telemarketing, informational or debt_collection; null (not stated): every calling_hours_rules row applies to its calls, whatever its purposes (the strictest).';
comment on column public.campaigns.requires_consent is 'When true, a contact is reserved and dialled only while its consent is valid (contacts.consent_at <= the moment, consent_expires_at null or after it); the others wait (why not now: no consent / consent expired). Default false.';
comment on column public.campaigns.starts_at is 'When the campaign may start reserving calls, or null (at once).';
comment on column public.campaigns.ends_at is 'When the campaign stops reserving calls (queued calls released at claim) and becomes COMPLETED once no call of it is active, or null (never). After starts_at.';
comment on column public.campaigns.paused_reason is 'Why the scheduler paused the campaign (the provider refused it as a whole: caller id, answer URL, account), or null. Cleared when the campaign leaves PAUSED.';

-- A campaign that leaves PAUSED (resumed, cancelled) forgets why it was paused. The trigger fires
-- only when there is something to forget: a reservation that starts thousands of QUEUED campaigns
-- in one statement calls no function for them.
create function public._campaigns_clear_paused_reason()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status <> 'PAUSED' then
    new.paused_reason := null;
    new.paused_at := null;
  end if;
  return new;
end;
$$;

revoke all on function public._campaigns_clear_paused_reason() from public, anon, authenticated;

create trigger campaigns_clear_paused_reason
  before update of status on public.campaigns
  for each row when (new.status is distinct from old.status and new.status <> 'PAUSED'
                     and (new.paused_reason is not null or new.paused_at is not null))
  execute function public._campaigns_clear_paused_reason();

-- campaigns_time_zone_is_valid: see public._check_time_zone().
create trigger campaigns_time_zone_is_valid
  before insert or update of time_zone on public.campaigns
  for each row execute function public._check_time_zone('campaigns_time_zone_is_valid');

alter table public.campaigns enable row level security;
revoke all on table public.campaigns from anon, authenticated;
revoke all on sequence public.campaigns_id_seq from anon, authenticated;
