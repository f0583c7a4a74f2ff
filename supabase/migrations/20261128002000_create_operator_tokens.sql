-- Named operator credentials and the audit trail of what operators did.
--
-- Every operator gets a token of their own (`npm run operator -- create <name>`, or the dashboard):
-- a high-entropy random string made by the caller, shown once, and stored here only as its SHA-256
-- (never the token). A token can expire and be revoked; revoked and expired tokens stay as rows so
-- the audit trail keeps naming who acted. ADMIN_TOKEN (and ADMIN_TOKEN_PREVIOUS during a rotation)
-- stays the bootstrap credential of the Edge Functions, outside this table.
--
-- operator_audit_log: one row per operator action (manual trigger, token created, token revoked):
-- who (the credential), what, when, and the state before and after. Read it in Studio.

create table public.operator_tokens (
  id bigint generated always as identity primary key,
  name text not null,
  token_sha256 bytea not null,
  created_at timestamptz not null default now(),
  created_by text not null,
  expires_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  last_used_at timestamptz,
  constraint operator_tokens_name_is_short check (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
  constraint operator_tokens_hash_is_sha256 check (octet_length(token_sha256) = 32),
  constraint operator_tokens_hash_is_unique unique (token_sha256),
  constraint operator_tokens_expires_after_created check (expires_at is null or expires_at > created_at),
  constraint operator_tokens_revoked_after_created check (revoked_at is null or revoked_at >= created_at),
  constraint operator_tokens_revoked_by_with_revoked_at check ((revoked_at is null) = (revoked_by is null)),
  constraint operator_tokens_created_by_not_blank check (length(btrim(created_by)) between 1 and 200)
);

-- One live token per name (a revoked name may be given out again).
create unique index operator_tokens_live_name on public.operator_tokens (lower(name)) where revoked_at is null;

comment on table public.operator_tokens is
  'Named operator credentials of the dashboard and the admin API. Only the SHA-256 of each token is kept (the token is shown once, at creation). A token is valid while revoked_at is null and expires_at is null or in the future. ADMIN_TOKEN (the bootstrap credential) is not listed here.';
comment on column public.operator_tokens.token_sha256 is 'SHA-256 of the token; the token itself is never stored.';
comment on column public.operator_tokens.created_by is 'The credential that created it (admin_token, operator:<id>:<name>, cli:<user>).';
comment on column public.operator_tokens.last_used_at is 'Last time the token authenticated a request (updated at most once a minute).';

alter table public.operator_tokens enable row level security;
revoke all on table public.operator_tokens from anon, authenticated;
revoke all on sequence public.operator_tokens_id_seq from anon, authenticated;

create table public.operator_audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null,
  actor_token_id bigint references public.operator_tokens (id),
  action text not null,
  subject text,
  before jsonb,
  after jsonb,
  constraint operator_audit_log_actor_not_blank check (length(btrim(actor)) between 1 and 200),
  constraint operator_audit_log_action_is_a_word check (action ~ '^[a-z][a-z0-9_.]{0,62}$')
);

create index operator_audit_log_at on public.operator_audit_log (at desc);

comment on table public.operator_audit_log is
  'Every operator action: who (actor: admin_token, admin_token_previous, operator:<id>:<name>, user:<sub>:<email> for a Supabase Auth session, cli:<user>; actor_token_id for a named token), what (action: tick.trigger, token.create, token.revoke, campaign.create, campaign.update, campaign.pause, campaign.resume, campaign.cancel, contacts.import, account.create, account.update, account.delete, do_not_call.add, do_not_call.remove, do_not_call.import; do_not_call.opt_out by actor call <id>), on what (subject), when, and the state before and after (JSON). Never holds a token or its hash.';

alter table public.operator_audit_log enable row level security;
revoke all on table public.operator_audit_log from anon, authenticated;
revoke all on sequence public.operator_audit_log_id_seq from anon, authenticated;

-- _operator_token_json(): a token row as the audit trail and the API show it (no hash).
create function public._operator_token_json(p_token public.operator_tokens)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case when p_token.id is null then null else jsonb_build_object(
    'id', p_token.id, 'name', p_token.name, 'created_at', p_token.created_at, 'created_by', p_token.created_by,
    'expires_at', p_token.expires_at, 'revoked_at', p_token.revoked_at, 'revoked_by', p_token.revoked_by) end
$$;

comment on function public._operator_token_json(public.operator_tokens) is
  'The token row as JSON without its hash (for the audit trail and the API).';

-- record_operator_action(): appends one row to the audit trail; returns its id.
create function public.record_operator_action(
  p_actor text,
  p_actor_token_id bigint,
  p_action text,
  p_subject text,
  p_before jsonb,
  p_after jsonb,
  p_now timestamptz default now()
)
returns bigint
language sql
set search_path = ''
as $$
  insert into public.operator_audit_log (at, actor, actor_token_id, action, subject, before, after)
  values (p_now, p_actor, p_actor_token_id, p_action, p_subject, p_before, p_after)
  returning id
$$;

comment on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz) is
  'Appends an operator action to operator_audit_log (who, what, on what, before/after, when); returns the row id.';

-- create_operator_token(): stores a new named token by its SHA-256 and records who created it.
-- The caller makes the token (32 random bytes or more) and shows it once; only the hash comes here.
create function public.create_operator_token(
  p_name text,
  p_token_sha256 bytea,
  p_expires_at timestamptz,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now()
)
returns table (id bigint, name text, created_at timestamptz, expires_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_token public.operator_tokens;
begin
  if p_expires_at is not null and p_expires_at <= p_now then
    raise exception 'expires_at must be in the future' using errcode = 'invalid_parameter_value';
  end if;
  if exists (select 1 from public.operator_tokens t where lower(t.name) = lower(p_name) and t.revoked_at is null) then
    raise exception 'an operator token named % exists already (revoke it first)', p_name using errcode = 'unique_violation';
  end if;
  insert into public.operator_tokens (name, token_sha256, created_at, created_by, expires_at)
  values (p_name, p_token_sha256, p_now, p_actor, p_expires_at)
  returning * into v_token;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'token.create', v_token.name,
                                        null, public._operator_token_json(v_token), p_now);
  return query select v_token.id, v_token.name, v_token.created_at, v_token.expires_at;
end;
$$;

comment on function public.create_operator_token(text, bytea, timestamptz, text, bigint, timestamptz) is
  'Stores a named operator token by its SHA-256 (never the token), valid until p_expires_at (null: no expiry), and records token.create in the audit trail. Refuses a name that a live token holds.';

-- revoke_operator_token(): revokes the live token named p_token (or with id p_token); records
-- token.revoke with the row before and after. No row when nothing live matched.
create function public.revoke_operator_token(
  p_token text,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now()
)
returns table (id bigint, name text, revoked_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_before public.operator_tokens;
  v_after public.operator_tokens;
begin
  select * into v_before from public.operator_tokens t
   where t.revoked_at is null
     and (lower(t.name) = lower(p_token) or (p_token ~ '^[0-9]{1,18}$' and t.id = p_token::bigint))
   order by (lower(t.name) = lower(p_token)) desc
   limit 1
     for update;
  if not found then
    return;
  end if;
  update public.operator_tokens t set revoked_at = greatest(p_now, t.created_at), revoked_by = p_actor
   where t.id = v_before.id
  returning * into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'token.revoke', v_after.name,
                                        public._operator_token_json(v_before), public._operator_token_json(v_after), p_now);
  return query select v_after.id, v_after.name, v_after.revoked_at;
end;
$$;

comment on function public.revoke_operator_token(text, text, bigint, timestamptz) is
  'Revokes the live operator token named p_token (or whose id is p_token) and records token.revoke (before/after) in the audit trail. Returns the revoked token, or no row.';

-- authenticate_operator_token(): the named token whose SHA-256 is p_token_sha256, when it is
-- valid at p_now (not revoked, not expired). Notes the use (at most once a minute).
create function public.authenticate_operator_token(p_token_sha256 bytea, p_now timestamptz default now())
returns table (id bigint, name text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  return query
  update public.operator_tokens t
     set last_used_at = p_now
   where t.token_sha256 = p_token_sha256
     and t.revoked_at is null
     and (t.expires_at is null or t.expires_at > p_now)
     and (t.last_used_at is null or t.last_used_at < p_now - interval '1 minute')
  returning t.id, t.name;
  if found then
    return;
  end if;
  return query
  select t.id, t.name from public.operator_tokens t
   where t.token_sha256 = p_token_sha256
     and t.revoked_at is null
     and (t.expires_at is null or t.expires_at > p_now);
end;
$$;

comment on function public.authenticate_operator_token(bytea, timestamptz) is
  'The operator token (id, name) whose SHA-256 is p_token_sha256 if it is neither revoked nor expired at p_now; no row otherwise. Updates last_used_at at most once a minute.';

revoke all on function public._operator_token_json(public.operator_tokens) from public, anon, authenticated;
revoke all on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public.create_operator_token(text, bytea, timestamptz, text, bigint, timestamptz) from public, anon, authenticated;
revoke all on function public.revoke_operator_token(text, text, bigint, timestamptz) from public, anon, authenticated;
revoke all on function public.authenticate_operator_token(bytea, timestamptz) from public, anon, authenticated;
grant execute on function public._operator_token_json(public.operator_tokens) to service_role;
grant execute on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz) to service_role;
grant execute on function public.create_operator_token(text, bytea, timestamptz, text, bigint, timestamptz) to service_role;
grant execute on function public.revoke_operator_token(text, text, bigint, timestamptz) to service_role;
grant execute on function public.authenticate_operator_token(bytea, timestamptz) to service_role;
