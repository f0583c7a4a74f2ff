-- Provider accounts without SQL: a monitoring view for Studio (and the admin API's GET /accounts),
-- and the admin functions behind scheduler-admin's POST / PATCH / DELETE /accounts and the CLI
-- (`npm run campaign -- accounts ...`). Each write is one statement together with its row in
-- operator_audit_log (who, what, before/after; the rows there leave out the rate bucket, which the
-- dispatcher moves on every claim). The fields arrive as JSON already checked by the
-- shared zod schema (supabase/functions/_shared/account-schema.ts); the table's CHECK constraints
-- and the campaigns' foreign key stay the last word.
--
-- The rate bucket (provider_accounts.next_send_at) is never written here: it belongs to
-- claim_queued_calls() / record_dispatch_results(). A changed calls_per_second applies from the
-- next send slot handed out.

-- scheduler_account_status: one row per provider account: its rate (effective and its own), its
-- cap, the calls now counted against it (queued and active, as launch_due_calls() counts them),
-- its circuit breaker and the campaigns that dial through it.
create view public.scheduler_account_status
with (security_invoker = true) as
select
  a.id,
  a.provider,
  a.account_sid,
  coalesce(a.calls_per_second, s.provider_calls_per_second) as calls_per_second,
  a.calls_per_second as own_calls_per_second,
  a.max_concurrent_calls,
  coalesce(k.active, 0) as active_calls,
  coalesce(k.queued, 0) as queued_calls,
  coalesce(b.state, 'closed') as breaker_state,
  case when b.state = 'open' then b.open_until end as breaker_open_until,
  coalesce(b.consecutive_failures, 0) as breaker_consecutive_failures,
  b.last_failure_reason as breaker_last_failure_reason,
  coalesce(u.total, 0) as campaigns,
  coalesce(u.live, 0) as live_campaigns,
  coalesce(u.ids, '{}'::bigint[]) as campaign_ids,
  a.created_at,
  a.updated_at
from public.provider_accounts a
left join public.scheduler_settings s on s.id
left join public.provider_circuit_breakers b on b.account = a.id
left join (
  select c.provider_account,
         count(*) as active,
         count(*) filter (where cl.status = 'queued') as queued
    from public.calls cl
    join public.campaigns c on c.id = cl.campaign_id
   where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
   group by c.provider_account
) k on k.provider_account = a.id
left join (
  select c.provider_account,
         count(*) as total,
         count(*) filter (where c.status in ('QUEUED', 'RUNNING', 'PAUSED')) as live,
         array_agg(c.id order by c.id) as ids
    from public.campaigns c
   group by c.provider_account
) u on u.provider_account = a.id;

comment on view public.scheduler_account_status is
  'One row per provider account: account_sid (the Twilio subaccount, null: TWILIO_ACCOUNT_SID), calls_per_second (effective: its own, or scheduler_settings.provider_calls_per_second when null) and own_calls_per_second, max_concurrent_calls (null: no own cap), active_calls (queued and dialling/ringing/in progress, as the caps count them) and queued_calls, the circuit breaker (state, open_until while open, consecutive failures, last failure), and the campaigns dialling through it (all, live = QUEUED/RUNNING/PAUSED, their ids).';

-- _provider_account_json(): an account as the admin API answers it (its status row).
create function public._provider_account_json(p_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select to_jsonb(v) from public.scheduler_account_status v where v.id = p_id
$$;

comment on function public._provider_account_json(text) is
  'Account p_id as a JSON object (its scheduler_account_status row), or null when there is no such account.';

-- admin_create_provider_account(): a new account {id, provider?, account_sid?, calls_per_second?,
-- max_concurrent_calls?}, audited as account.create. An id (or a subaccount SID) already taken: 23505.
create function public.admin_create_provider_account(
  p_fields jsonb,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_after public.provider_accounts;
begin
  if jsonb_typeof(p_fields) is distinct from 'object' then
    raise exception 'the account fields must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(p_fields ->> 'id', '') = '' then
    raise exception 'id is required' using errcode = 'invalid_parameter_value';
  end if;
  -- A cap not given starts at the plan's default concurrency: Vapi 10, Retell pay-as-you-go 20
  -- (an explicit null still means no cap of its own).
  insert into public.provider_accounts (id, provider, account_sid, calls_per_second, max_concurrent_calls, created_at, updated_at)
  select r.id, coalesce(r.provider, 'twilio'), r.account_sid, r.calls_per_second,
         case when p_fields ? 'max_concurrent_calls' then r.max_concurrent_calls
              when r.provider = 'vapi' then 10
              when r.provider = 'retell' then 20
         end,
         p_now, p_now
    from jsonb_populate_record(null::public.provider_accounts, p_fields) r
  returning * into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'account.create', 'account ' || v_after.id,
                                        null, to_jsonb(v_after) - 'next_send_at', p_now, p_actor_role);
  return public._provider_account_json(v_after.id);
end;
$$;

comment on function public.admin_create_provider_account(jsonb, text, bigint, timestamptz, text) is
  'Creates provider account p_fields.id (provider twilio, signalwire, vapi or retell, default twilio; account_sid and calls_per_second null unless given; max_concurrent_calls when not given: 10 for vapi, 20 for retell, else null) and records account.create in operator_audit_log. Returns its scheduler_account_status row as JSON. SQLSTATE 23505 when the id or the account_sid is taken.';

-- admin_update_provider_account(): sets account_sid, calls_per_second and/or max_concurrent_calls
-- (the keys present in p_fields; null = the functions' TWILIO_ACCOUNT_SID / inherit the setting / no
-- own cap), audited as account.update with the row before and after. Never touches next_send_at.
-- Null when there is no such account. (A new account_sid applies to the calls created from then on;
-- call-status verifies each callback by the AccountSid it names, so calls in flight are not affected.)
create function public.admin_update_provider_account(
  p_id text,
  p_fields jsonb,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_before public.provider_accounts;
  v_after public.provider_accounts;
begin
  if jsonb_typeof(p_fields) is distinct from 'object' then
    raise exception 'the account fields must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  select * into v_before from public.provider_accounts a where a.id = p_id for update;
  if not found then
    return null;
  end if;
  update public.provider_accounts a
     set account_sid = case when p_fields ? 'account_sid' then r.account_sid else a.account_sid end,
         calls_per_second = case when p_fields ? 'calls_per_second' then r.calls_per_second else a.calls_per_second end,
         max_concurrent_calls = case when p_fields ? 'max_concurrent_calls' then r.max_concurrent_calls
                                     else a.max_concurrent_calls end,
         updated_at = p_now
    from jsonb_populate_record(null::public.provider_accounts, p_fields) r
   where a.id = p_id
  returning a.* into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'account.update', 'account ' || p_id,
                                        to_jsonb(v_before) - 'next_send_at',
                                        to_jsonb(v_after) - 'next_send_at', p_now, p_actor_role);
  return public._provider_account_json(p_id);
end;
$$;

comment on function public.admin_update_provider_account(text, jsonb, text, bigint, timestamptz, text) is
  'Sets account_sid, calls_per_second and/or max_concurrent_calls (the keys present in p_fields; null: TWILIO_ACCOUNT_SID / the global setting / no own cap) of provider account p_id, never its rate bucket, and records account.update (before/after) in operator_audit_log. Returns its scheduler_account_status row as JSON, or null when there is no such account.';

-- admin_delete_provider_account(): deletes an account no campaign dials through (and its breaker
-- row), audited as account.delete. Refused (SQLSTATE 55000) for 'default' (the campaigns' column
-- default) and for an account in use, naming the campaigns; the foreign key stays the last word.
-- Null when there is no such account.
create function public.admin_delete_provider_account(
  p_id text,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_before public.provider_accounts;
  v_used integer;
  v_ids text;
begin
  select * into v_before from public.provider_accounts a where a.id = p_id for update;
  if not found then
    return null;
  end if;
  if p_id = 'default' then
    raise exception 'provider account "default" cannot be deleted: new campaigns dial through it'
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  select count(*)::integer, string_agg(c.id::text, ', ' order by c.id)
    into v_used, v_ids
    from public.campaigns c where c.provider_account = p_id;
  if v_used > 0 then
    raise exception 'provider account "%" is used by % campaign(s) (%): move them to another account first',
      p_id, v_used, v_ids
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  delete from public.provider_circuit_breakers b where b.account = p_id;
  delete from public.provider_accounts a where a.id = p_id;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'account.delete', 'account ' || p_id,
                                        to_jsonb(v_before) - 'next_send_at', null, p_now, p_actor_role);
  return to_jsonb(v_before) - 'next_send_at';
end;
$$;

comment on function public.admin_delete_provider_account(text, text, bigint, timestamptz, text) is
  'Deletes provider account p_id (and its breaker row) and records account.delete in operator_audit_log; returns the row deleted as JSON, or null when there is no such account. SQLSTATE 55000 for ''default'' or an account campaigns dial through (named).';

revoke all on public.scheduler_account_status from anon, authenticated;
grant select on public.scheduler_account_status to service_role;
revoke all on function public._provider_account_json(text) from public, anon, authenticated;
revoke all on function public.admin_create_provider_account(jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_update_provider_account(text, jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_delete_provider_account(text, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public._provider_account_json(text) to service_role;
grant execute on function public.admin_create_provider_account(jsonb, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_update_provider_account(text, jsonb, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_delete_provider_account(text, text, bigint, timestamptz, text) to service_role;
