-- Provider accounts: whom a campaign dials through (for Twilio an account or one of its
-- subaccounts; a SignalWire project; a Vapi or Retell organisation), with the account's own rate,
-- concurrency and circuit breaker. The kind (provider) picks the adapter the dispatcher sends the
-- account's calls to. Caps nest: campaign <= account <= global, all counted from the
-- call rows by launch_due_calls(). The account's calls per second is a token bucket kept here
-- (next_send_at), drawn on by claim_queued_calls() for every dispatcher at once.
create table public.provider_accounts (
  id text primary key,
  -- The platform: twilio, signalwire (Twilio-compatible LaML API), vapi or retell. Campaigns carry
  -- the same value (campaigns_provider_matches_account), so each call row knows its adapter.
  provider text not null default 'twilio',
  -- Twilio: the subaccount SID the calls are created under, with the main account's credentials
  -- (null: the functions' TWILIO_ACCOUNT_SID itself). No credential is stored in the database: the
  -- call-status function verifies a subaccount's callbacks with its auth token from
  -- TWILIO_SUBACCOUNT_AUTH_TOKENS.
  -- SignalWire: the project id the calls are created under (null: SIGNALWIRE_PROJECT_ID). Vapi and
  -- Retell: null (one organisation per API key).
  account_sid text unique,
  -- Calls per second the provider allows this account (null: scheduler_settings.provider_calls_per_second).
  calls_per_second numeric,
  -- Active calls at most through this account (null: only the global cap). A new Vapi account starts
  -- at 10 and a Retell account at 20, their plans' default concurrency (admin_create_provider_account()).
  max_concurrent_calls integer,
  -- The rate bucket (GCRA): the earliest time the next create-call request may go. Written only by
  -- claim_queued_calls() (and held back by a provider's 429, record_dispatch_results()).
  next_send_at timestamptz not null default '-infinity',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint provider_accounts_id_is_a_slug check (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  -- Campaigns name (id, provider) together: a campaign's provider is its account's kind.
  constraint provider_accounts_id_provider_key unique (id, provider),
  constraint provider_accounts_provider_is_known check (provider in ('twilio', 'signalwire', 'vapi', 'retell')),
  constraint provider_accounts_sid_is_twilio check (
    case provider
      when 'twilio' then account_sid ~ '^AC[0-9a-f]{32}$'
      when 'signalwire' then account_sid ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      else account_sid is null
    end
  ),
  constraint provider_accounts_rate_is_sane check (calls_per_second > 0 and calls_per_second <= 10000),
  constraint provider_accounts_cap_is_positive check (max_concurrent_calls between 1 and 1000000)
);

comment on table public.provider_accounts is
  'Provider accounts campaigns dial through: provider (twilio, signalwire, vapi, retell) picks the adapter. calls_per_second (null: scheduler_settings.provider_calls_per_second) is shared by every dispatcher through the bucket next_send_at; max_concurrent_calls (null: no own cap) nests between the campaigns'' caps and the global cap. account_sid: the Twilio subaccount (AC...) or SignalWire project (a UUID) the calls are created under (null: TWILIO_ACCOUNT_SID / SIGNALWIRE_PROJECT_ID; always null for vapi and retell).';
comment on column public.provider_accounts.next_send_at is
  'Rate bucket: the earliest time the next create-call request of this account may go out (claim_queued_calls() hands out send slots from here).';

insert into public.provider_accounts (id) values ('default');

alter table public.provider_accounts enable row level security;
revoke all on table public.provider_accounts from anon, authenticated;
