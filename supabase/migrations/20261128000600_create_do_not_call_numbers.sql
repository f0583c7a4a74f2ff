-- Numbers that must never be called, by any campaign. Checked when a call is reserved and again
-- when it is claimed for dialling.
create table public.do_not_call_numbers (
  phone text primary key,
  reason text,
  added_at timestamptz not null default now(),
  -- Who put it there: the operator credential (as operator_audit_log.actor), 'call <id>' for an
  -- opt-out during that call; null for rows written straight in SQL.
  added_by text,
  constraint do_not_call_numbers_phone_is_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$')
);

comment on table public.do_not_call_numbers is 'Global do-not-call list (E.164). Contacts whose phone is listed are never dialled and are marked do_not_call.';

alter table public.do_not_call_numbers enable row level security;
revoke all on table public.do_not_call_numbers from anon, authenticated;
