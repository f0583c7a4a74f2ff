-- Circuit breaker per provider account (provider_accounts.id), kept in the database so it spans
-- ticks and function instances: one account's failures (a suspended subaccount, its own outage) stop
-- only that account's calls.
create table public.provider_circuit_breakers (
  account text primary key,
  state text not null default 'closed',
  consecutive_failures integer not null default 0,
  opened_at timestamptz,
  open_until timestamptz,
  probe_started_at timestamptz,
  last_failure_reason text,
  updated_at timestamptz not null default now(),
  constraint provider_circuit_breakers_state_is_known check (state in ('closed', 'open', 'half_open')),
  constraint provider_circuit_breakers_failures_not_negative check (consecutive_failures >= 0)
);

comment on table public.provider_circuit_breakers is
  'One row per provider account (account = provider_accounts.id). closed: dispatch normally. open: no call of the account is claimed until open_until. half_open: one probe call is in flight; its result closes or re-opens the breaker.';

alter table public.provider_circuit_breakers enable row level security;
revoke all on table public.provider_circuit_breakers from anon, authenticated;
