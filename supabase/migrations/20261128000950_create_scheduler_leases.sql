-- Leases: single-flight and leadership as rows with an expiry, not as session state. The functions
-- reach Postgres through a transaction-mode pooler (Supabase's port 6543, PgBouncer), where a
-- session-level advisory lock is taken on one server connection and released (or not) on another;
-- a lease is taken, renewed and released in short transactions of their own, and a holder that
-- crashes simply lets it expire.
--
-- One row per lease name ('dispatch': the tick's dispatcher). The row stays after a release, so
-- Studio's table editor shows who held it last, since when, with which token, and until when.
-- A lease is held when released_at is null and expires_at is in the future.
--
-- Fencing: every acquisition gets a new token from a sequence (strictly increasing, also across a
-- deleted row). A holder passes its token to the writes it guards (claim_queued_calls'
-- p_lease_token); a write with a token that no longer holds the lease is refused, so a holder that
-- lost its lease (expired while it still worked) notices before it writes new work.

create sequence public.scheduler_lease_tokens as bigint;

create table public.scheduler_leases (
  name text primary key,
  holder text not null,
  token bigint not null,
  acquired_at timestamptz not null,
  renewed_at timestamptz not null,
  expires_at timestamptz not null,
  released_at timestamptz,
  constraint scheduler_leases_name_is_short check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  constraint scheduler_leases_holder_not_blank check (length(btrim(holder)) between 1 and 200),
  constraint scheduler_leases_renewed_after_acquired check (renewed_at >= acquired_at),
  constraint scheduler_leases_expires_after_renewed check (expires_at > renewed_at)
);

comment on table public.scheduler_leases is
  'Leases with an expiry, an owner and a fencing token (single-flight across pooled connections). Held while released_at is null and expires_at > now(). ''dispatch'': the dispatcher that goes on after its tick answered (continuous dispatch); the next tick takes it over. A crashed holder''s lease expires by itself.';
comment on column public.scheduler_leases.holder is 'Who holds (or last held) the lease, e.g. the scheduler run and the function instance.';
comment on column public.scheduler_leases.token is 'Fencing token of the current (or last) acquisition; strictly increasing.';
comment on column public.scheduler_leases.expires_at is 'The lease is lost at this instant unless renewed before.';
comment on column public.scheduler_leases.released_at is 'Set when the holder released the lease; null while held (or until it expires).';

alter table public.scheduler_leases enable row level security;
revoke all on table public.scheduler_leases from anon, authenticated;
revoke all on sequence public.scheduler_lease_tokens from anon, authenticated;

-- acquire_scheduler_lease(): takes the lease when it is free (never taken, released, or expired at
-- p_now) for p_ttl_ms, with a new token. Otherwise leaves it alone and answers acquired = false
-- with the current holder, token and expiry. Concurrent callers serialise on the row: one wins.
-- p_take_over: take it even from a live holder (the handover of continuous dispatch: the newest
-- tick's dispatcher goes on, the previous one's next guarded write is refused).
create function public.acquire_scheduler_lease(
  p_name text,
  p_holder text,
  p_ttl_ms integer,
  p_now timestamptz default now(),
  p_take_over boolean default false
)
returns table (acquired boolean, token bigint, holder text, expires_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_ttl interval;
begin
  if p_name is null or p_holder is null then
    raise exception 'lease name and holder are required' using errcode = 'null_value_not_allowed';
  end if;
  if p_ttl_ms is null or p_ttl_ms < 1 then
    raise exception 'p_ttl_ms must be at least 1, got %', p_ttl_ms using errcode = 'invalid_parameter_value';
  end if;
  if p_now is null then
    raise exception 'p_now is required' using errcode = 'null_value_not_allowed';
  end if;
  v_ttl := p_ttl_ms * interval '1 millisecond';

  return query
  insert into public.scheduler_leases as l (name, holder, token, acquired_at, renewed_at, expires_at)
  values (p_name, p_holder, nextval('public.scheduler_lease_tokens'), p_now, p_now, p_now + v_ttl)
  on conflict (name) do update
     set holder = excluded.holder, token = excluded.token, acquired_at = excluded.acquired_at,
         renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, released_at = null
   where l.released_at is not null or l.expires_at <= p_now or p_take_over
  returning true, l.token, l.holder, l.expires_at;
  if found then
    return;
  end if;

  return query
  select false, l.token, l.holder, l.expires_at
    from public.scheduler_leases l
   where l.name = p_name;
end;
$$;

comment on function public.acquire_scheduler_lease(text, text, integer, timestamptz, boolean) is
  'Takes lease p_name for p_holder for p_ttl_ms when it is free at p_now (never taken, released or expired), or from anyone when p_take_over, with a new fencing token. Returns one row: acquired, and the token, holder and expiry of whoever holds it now.';

-- renew_scheduler_lease(): extends a lease still held with p_token at p_now to p_now + p_ttl_ms.
-- False when the lease was released, expired or taken over: the holder has lost it and must stop.
create function public.renew_scheduler_lease(
  p_name text,
  p_token bigint,
  p_ttl_ms integer,
  p_now timestamptz default now()
)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  if p_ttl_ms is null or p_ttl_ms < 1 then
    raise exception 'p_ttl_ms must be at least 1, got %', p_ttl_ms using errcode = 'invalid_parameter_value';
  end if;
  update public.scheduler_leases l
     set renewed_at = greatest(l.renewed_at, p_now),
         expires_at = greatest(l.renewed_at, p_now) + p_ttl_ms * interval '1 millisecond'
   where l.name = p_name
     and l.token = p_token
     and l.released_at is null
     and l.expires_at > p_now;
  return found;
end;
$$;

comment on function public.renew_scheduler_lease(text, bigint, integer, timestamptz) is
  'Extends lease p_name held with p_token to p_now + p_ttl_ms. False when it is no longer held with that token at p_now (released, expired or taken over).';

-- release_scheduler_lease(): gives the lease back at once (the next acquirer need not wait for
-- the expiry). False when p_token no longer holds it (expired and taken over, or released).
create function public.release_scheduler_lease(p_name text, p_token bigint)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update public.scheduler_leases l
     set released_at = now()
   where l.name = p_name
     and l.token = p_token
     and l.released_at is null;
  return found;
end;
$$;

comment on function public.release_scheduler_lease(text, bigint) is
  'Releases lease p_name if p_token still holds it; true when it did.';

-- _scheduler_lease_is_held(): whether p_token holds lease p_name at p_now. Locks the row FOR SHARE,
-- so the caller's transaction and a takeover (which updates the row) cannot interleave: a write
-- guarded by it commits before the lease changes hands, or sees that it has.
create function public._scheduler_lease_is_held(p_name text, p_token bigint, p_now timestamptz)
returns boolean
language sql
set search_path = ''
as $$
  select coalesce((
    select l.token = p_token and l.released_at is null and l.expires_at > p_now
      from public.scheduler_leases l
     where l.name = p_name
       for share
  ), false)
$$;

comment on function public._scheduler_lease_is_held(text, bigint, timestamptz) is
  'True when p_token holds lease p_name at p_now (locks the lease row FOR SHARE until the caller''s transaction ends).';

revoke all on function public.acquire_scheduler_lease(text, text, integer, timestamptz, boolean) from public, anon, authenticated;
revoke all on function public.renew_scheduler_lease(text, bigint, integer, timestamptz) from public, anon, authenticated;
revoke all on function public.release_scheduler_lease(text, bigint) from public, anon, authenticated;
revoke all on function public._scheduler_lease_is_held(text, bigint, timestamptz) from public, anon, authenticated;
grant execute on function public.acquire_scheduler_lease(text, text, integer, timestamptz, boolean) to service_role;
grant execute on function public.renew_scheduler_lease(text, bigint, integer, timestamptz) to service_role;
grant execute on function public.release_scheduler_lease(text, bigint) to service_role;
grant execute on function public._scheduler_lease_is_held(text, bigint, timestamptz) to service_role;
