-- Named operator credentials and the audit trail of what operators did.
--
-- Every operator gets a token of their own (`npm run operator -- create <name> --role <role>`, or the
-- dashboard): a high-entropy random string made by the caller, shown once, and stored here only as
-- its SHA-256 (never the token). ADMIN_TOKEN (and ADMIN_TOKEN_PREVIOUS during a rotation) stays the
-- bootstrap credential of the Edge Functions, outside this table.
--
-- Containment of a credential that must no longer be trusted:
--   * every token expires: 90 days after its creation unless told otherwise, never more than 365
--     days after it; a token made by another named token never outlives that token (a default
--     expiry is cut to the creator's, a later explicit one is refused);
--   * every token carries one role (viewer < operator < admin; viewer when not said: a token that
--     was meant to do more is noticed at once, a token that was meant to do less is not) and no
--     credential can make a token of a higher role than its own;
--   * created_by / created_by_token_id name the credential that made each token, and
--     revoke_operator_tokens_by_creator() revokes every live token a credential made, and the
--     tokens those tokens made, in one statement;
--   * revocation is by id only (a name is a label an operator chooses, never an identifier; a name
--     of digits only is refused so that it can never be read as one).
-- Revoked and expired tokens stay as rows so the audit trail keeps naming who acted.
--
-- operator_audit_log: one row per operator action (manual trigger, token created, token revoked...):
-- who (the credential and its role), what, when, and the state before and after. Read it in Studio.

create table public.operator_tokens (
  id bigint generated always as identity primary key,
  name text not null,
  token_sha256 bytea not null,
  role text not null default 'viewer',
  created_at timestamptz not null default now(),
  created_by text not null,
  created_by_token_id bigint references public.operator_tokens (id),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  revoked_by text,
  last_used_at timestamptz,
  constraint operator_tokens_name_is_short check (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
  constraint operator_tokens_name_is_not_a_number check (name !~ '^[0-9]+$'),
  constraint operator_tokens_role_is_known check (role in ('viewer', 'operator', 'admin')),
  constraint operator_tokens_hash_is_sha256 check (octet_length(token_sha256) = 32),
  constraint operator_tokens_hash_is_unique unique (token_sha256),
  constraint operator_tokens_expires_after_created check (expires_at > created_at),
  constraint operator_tokens_expires_within_a_year check (expires_at <= created_at + interval '365 days'),
  constraint operator_tokens_revoked_after_created check (revoked_at is null or revoked_at >= created_at),
  constraint operator_tokens_revoked_by_with_revoked_at check ((revoked_at is null) = (revoked_by is null)),
  constraint operator_tokens_created_by_not_blank check (length(btrim(created_by)) between 1 and 200)
);

-- One live token per name (a revoked name may be given out again).
create unique index operator_tokens_live_name on public.operator_tokens (lower(name)) where revoked_at is null;
create index operator_tokens_created_by_token on public.operator_tokens (created_by_token_id) where created_by_token_id is not null;

comment on table public.operator_tokens is
  'Named operator credentials of the dashboard and the admin API. Only the SHA-256 of each token is kept (the token is shown once, at creation). A token is valid while revoked_at is null and expires_at is in the future (at most 365 days after created_at). ADMIN_TOKEN (the bootstrap credential) is not listed here.';
comment on column public.operator_tokens.role is 'What the token may do: viewer (reads), operator (campaigns, contacts, do-not-call, manual ticks), admin (also tokens and provider accounts). Never changes.';
comment on column public.operator_tokens.created_by_token_id is 'The named token that created it (null: ADMIN_TOKEN, a Supabase session or the CLI).';
comment on column public.operator_tokens.token_sha256 is 'SHA-256 of the token; the token itself is never stored.';
comment on column public.operator_tokens.created_by is 'The credential that created it (admin_token, operator:<id>:<name>, user:<sub>:<email>, cli:<user>).';
comment on column public.operator_tokens.last_used_at is 'Last time the token authenticated a request (updated at most once a minute).';

alter table public.operator_tokens enable row level security;
revoke all on table public.operator_tokens from anon, authenticated;
revoke all on sequence public.operator_tokens_id_seq from anon, authenticated;

create table public.operator_audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null,
  actor_token_id bigint references public.operator_tokens (id),
  actor_role text,
  action text not null,
  subject text,
  before jsonb,
  after jsonb,
  constraint operator_audit_log_actor_not_blank check (length(btrim(actor)) between 1 and 200),
  constraint operator_audit_log_actor_role_is_known check (actor_role in ('viewer', 'operator', 'admin')),
  constraint operator_audit_log_action_is_a_word check (action ~ '^[a-z][a-z0-9_.]{0,62}$')
);

create index operator_audit_log_at on public.operator_audit_log (at desc);

comment on table public.operator_audit_log is
  'Every operator action: who (actor: admin_token, admin_token_previous, operator:<id>:<name>, user:<sub>:<email> for a Supabase Auth session, cli:<user>; actor_token_id for a named token; actor_role: the role the credential held, null for the system''s own actions), what (action: tick.trigger, token.create, token.revoke, campaign.create, campaign.update, campaign.pause, campaign.resume, campaign.cancel, contacts.import, account.create, account.update, account.delete, do_not_call.add, do_not_call.remove, do_not_call.import, calling_hours_rule.enable, calling_hours_rule.disable, calling_hours_rule.update, calling_hours_rule.create, calling_hours_rule.delete (by actor sql:<role> when made by hand); do_not_call.opt_out by actor call <id>), on what (subject), when, and the state before and after (JSON). Never holds a token or its hash.';

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
    'id', p_token.id, 'name', p_token.name, 'role', p_token.role, 'created_at', p_token.created_at,
    'created_by', p_token.created_by, 'created_by_token_id', p_token.created_by_token_id,
    'expires_at', p_token.expires_at, 'revoked_at', p_token.revoked_at, 'revoked_by', p_token.revoked_by) end
$$;

comment on function public._operator_token_json(public.operator_tokens) is
  'The token row as JSON without its hash (for the audit trail and the API).';

-- _operator_role_rank(): viewer 1 < operator 2 < admin 3; null for anything else.
create function public._operator_role_rank(p_role text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select array_position(array['viewer', 'operator', 'admin'], p_role)
$$;

comment on function public._operator_role_rank(text) is
  'The rank of an operator role: viewer 1, operator 2, admin 3; null for an unknown role.';

-- record_operator_action(): appends one row to the audit trail; returns its id.
create function public.record_operator_action(
  p_actor text,
  p_actor_token_id bigint,
  p_action text,
  p_subject text,
  p_before jsonb,
  p_after jsonb,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns bigint
language sql
set search_path = ''
as $$
  insert into public.operator_audit_log (at, actor, actor_token_id, actor_role, action, subject, before, after)
  values (p_now, p_actor, p_actor_token_id, p_actor_role, p_action, p_subject, p_before, p_after)
  returning id
$$;

comment on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz, text) is
  'Appends an operator action to operator_audit_log (who and with which role, what, on what, before/after, when); returns the row id.';

-- create_operator_token(): stores a new named token by its SHA-256 and records who created it.
-- The caller makes the token (32 random bytes or more) and shows it once; only the hash comes here.
--   p_expires_at: null is 90 days from p_now; otherwise after p_now and at most 365 days after it.
--   p_role: never above p_actor_role (42501).
--   p_actor_token_id (a named token creating it): that token must be valid at p_now, and the new
--   token never outlives it (a default expiry is cut to it; a later explicit one is refused).
create function public.create_operator_token(
  p_name text,
  p_token_sha256 bytea,
  p_expires_at timestamptz,
  p_role text,
  p_actor text,
  p_actor_role text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now()
)
returns table (id bigint, name text, role text, created_at timestamptz, expires_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_token public.operator_tokens;
  v_creator public.operator_tokens;
  v_expires_at timestamptz := coalesce(p_expires_at, p_now + interval '90 days');
begin
  if public._operator_role_rank(p_role) is null then
    raise exception 'role must be viewer, operator or admin, not %', coalesce(p_role, 'null') using errcode = 'invalid_parameter_value';
  end if;
  if public._operator_role_rank(p_actor_role) is null or public._operator_role_rank(p_role) > public._operator_role_rank(p_actor_role) then
    raise exception 'a credential of role % cannot create a token of role %', coalesce(p_actor_role, 'none'), p_role
      using errcode = 'insufficient_privilege';
  end if;
  if p_expires_at is not null and p_expires_at <= p_now then
    raise exception 'expires_at must be in the future' using errcode = 'invalid_parameter_value';
  end if;
  if v_expires_at > p_now + interval '365 days' then
    raise exception 'expires_at must be at most 365 days away' using errcode = 'invalid_parameter_value';
  end if;
  if p_actor_token_id is not null then
    select * into v_creator from public.operator_tokens t where t.id = p_actor_token_id;
    if not found or v_creator.revoked_at is not null or v_creator.expires_at <= p_now then
      raise exception 'the creating token % is not valid', p_actor_token_id using errcode = 'insufficient_privilege';
    end if;
    if public._operator_role_rank(p_role) > public._operator_role_rank(v_creator.role) then
      raise exception 'a token of role % cannot create a token of role %', v_creator.role, p_role
        using errcode = 'insufficient_privilege';
    end if;
    if p_expires_at is null then
      v_expires_at := least(v_expires_at, v_creator.expires_at);
    elsif p_expires_at > v_creator.expires_at then
      raise exception 'expires_at must not be later than the creating token''s (%)', v_creator.expires_at
        using errcode = 'invalid_parameter_value';
    end if;
  end if;
  if exists (select 1 from public.operator_tokens t where lower(t.name) = lower(p_name) and t.revoked_at is null) then
    raise exception 'an operator token named % exists already (revoke it first)', p_name using errcode = 'unique_violation';
  end if;
  insert into public.operator_tokens (name, token_sha256, role, created_at, created_by, created_by_token_id, expires_at)
  values (p_name, p_token_sha256, p_role, p_now, p_actor, p_actor_token_id, v_expires_at)
  returning * into v_token;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'token.create', v_token.name,
                                        null, public._operator_token_json(v_token), p_now, p_actor_role);
  return query select v_token.id, v_token.name, v_token.role, v_token.created_at, v_token.expires_at;
end;
$$;

comment on function public.create_operator_token(text, bytea, timestamptz, text, text, text, bigint, timestamptz) is
  'Stores a named operator token by its SHA-256 (never the token) with role p_role (not above p_actor_role, nor above the creating token''s: 42501), valid until p_expires_at (null: 90 days; later than 365 days, or than the creating token''s expiry: 22023), and records token.create in the audit trail. Refuses a name that a live token holds (23505).';

-- revoke_operator_token(): revokes the live token with id p_id (never by name); records
-- token.revoke with the row before and after. No row when no live token has that id.
create function public.revoke_operator_token(
  p_id bigint,
  p_actor text,
  p_actor_role text,
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
   where t.id = p_id and t.revoked_at is null
     for update;
  if not found then
    return;
  end if;
  update public.operator_tokens t set revoked_at = greatest(p_now, t.created_at), revoked_by = p_actor
   where t.id = v_before.id
  returning * into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'token.revoke', v_after.name,
                                        public._operator_token_json(v_before), public._operator_token_json(v_after),
                                        p_now, p_actor_role);
  return query select v_after.id, v_after.name, v_after.revoked_at;
end;
$$;

comment on function public.revoke_operator_token(bigint, text, text, bigint, timestamptz) is
  'Revokes the live operator token whose id is p_id (a name never selects a token) and records token.revoke (before/after) in the audit trail. Returns the revoked token, or no row.';

-- revoke_operator_tokens_by_creator(): revokes every live token the credential p_creator made, and
-- every live token those made in turn (through created_by_token_id). p_creator is a credential as
-- created_by names it, or its leading part up to a colon: 'operator:12' (token 12, whatever its
-- name), 'user:<sub>' (that Supabase user, whatever their email), 'admin_token', 'cli:<user>'.
-- One token.revoke row per token in the audit trail (after.revoked_because names p_creator).
create function public.revoke_operator_tokens_by_creator(
  p_creator text,
  p_actor text,
  p_actor_role text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now()
)
returns table (id bigint, name text, created_by text, revoked_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_creator_token bigint;
  v_before public.operator_tokens;
  v_after public.operator_tokens;
begin
  if p_creator is null or length(btrim(p_creator)) = 0 or length(p_creator) > 200 then
    raise exception 'name the creator (as created_by shows it)' using errcode = 'invalid_parameter_value';
  end if;
  v_creator_token := substring(p_creator from '^operator:([0-9]{1,18})(:|$)')::bigint;
  for v_before in
    with recursive made (id) as (
      select t.id from public.operator_tokens t
       where t.created_by = p_creator
          or left(t.created_by, length(p_creator) + 1) = p_creator || ':'
          or t.created_by_token_id = v_creator_token
      union
      select t.id from public.operator_tokens t join made m on t.created_by_token_id = m.id
    )
    select t.* from public.operator_tokens t
     where t.id in (select m.id from made m) and t.revoked_at is null
     order by t.id
       for update
  loop
    update public.operator_tokens t set revoked_at = greatest(p_now, t.created_at), revoked_by = p_actor
     where t.id = v_before.id
    returning * into v_after;
    perform public.record_operator_action(p_actor, p_actor_token_id, 'token.revoke', v_after.name,
                                          public._operator_token_json(v_before),
                                          public._operator_token_json(v_after) || jsonb_build_object('revoked_because', 'made by ' || p_creator),
                                          p_now, p_actor_role);
    return query select v_after.id, v_after.name, v_after.created_by, v_after.revoked_at;
  end loop;
end;
$$;

comment on function public.revoke_operator_tokens_by_creator(text, text, text, bigint, timestamptz) is
  'Revokes every live operator token made by the credential p_creator (created_by equal to it, or starting with it and a colon: operator:<id>, user:<sub>) and, transitively, every live token those tokens made; one token.revoke row each in the audit trail. Returns the tokens revoked.';

-- authenticate_operator_token(): the named token whose SHA-256 is p_token_sha256, when it is
-- valid at p_now (not revoked, not expired). Notes the use (at most once a minute).
create function public.authenticate_operator_token(p_token_sha256 bytea, p_now timestamptz default now())
returns table (id bigint, name text, role text)
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
     and t.expires_at > p_now
     and (t.last_used_at is null or t.last_used_at < p_now - interval '1 minute')
  returning t.id, t.name, t.role;
  if found then
    return;
  end if;
  return query
  select t.id, t.name, t.role from public.operator_tokens t
   where t.token_sha256 = p_token_sha256
     and t.revoked_at is null
     and t.expires_at > p_now;
end;
$$;

comment on function public.authenticate_operator_token(bytea, timestamptz) is
  'The operator token (id, name, role) whose SHA-256 is p_token_sha256 if it is neither revoked nor expired at p_now; no row otherwise. Updates last_used_at at most once a minute.';

revoke all on function public._operator_token_json(public.operator_tokens) from public, anon, authenticated;
revoke all on function public._operator_role_rank(text) from public, anon, authenticated;
revoke all on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz, text) from public, anon, authenticated;
revoke all on function public.create_operator_token(text, bytea, timestamptz, text, text, text, bigint, timestamptz) from public, anon, authenticated;
revoke all on function public.revoke_operator_token(bigint, text, text, bigint, timestamptz) from public, anon, authenticated;
revoke all on function public.revoke_operator_tokens_by_creator(text, text, text, bigint, timestamptz) from public, anon, authenticated;
revoke all on function public.authenticate_operator_token(bytea, timestamptz) from public, anon, authenticated;
grant execute on function public._operator_token_json(public.operator_tokens) to service_role;
grant execute on function public._operator_role_rank(text) to service_role;
grant execute on function public.record_operator_action(text, bigint, text, text, jsonb, jsonb, timestamptz, text) to service_role;
grant execute on function public.create_operator_token(text, bytea, timestamptz, text, text, text, bigint, timestamptz) to service_role;
grant execute on function public.revoke_operator_token(bigint, text, text, bigint, timestamptz) to service_role;
grant execute on function public.revoke_operator_tokens_by_creator(text, text, text, bigint, timestamptz) to service_role;
grant execute on function public.authenticate_operator_token(bytea, timestamptz) to service_role;
