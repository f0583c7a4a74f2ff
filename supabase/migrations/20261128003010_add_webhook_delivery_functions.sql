-- Webhook delivery: what the deliverers (the Edge Functions) call, and what the admin API calls to
-- manage endpoints and replay deliveries. At least once: a delivery is claimed under a lease
-- (FOR UPDATE SKIP LOCKED), sent, and its result recorded with the lease's token; a deliverer that
-- dies mid-send leaves a lease that expires, and the delivery is sent again.

-- An endpoint as the admin API shows it: never its secret.
create function public._webhook_endpoint_json(p_endpoint public.webhook_endpoints)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', p_endpoint.id::text,
    'url', p_endpoint.url,
    'events', to_jsonb(p_endpoint.events),
    'description', p_endpoint.description,
    'enabled', p_endpoint.enabled,
    'created_at', p_endpoint.created_at,
    'created_by', p_endpoint.created_by,
    'updated_at', p_endpoint.updated_at,
    'pending', (select count(*) from public.webhook_deliveries d where d.endpoint_id = p_endpoint.id and d.status = 'pending'),
    'dead', (select count(*) from public.webhook_deliveries d where d.endpoint_id = p_endpoint.id and d.status = 'dead'),
    'delivered', (select count(*) from public.webhook_deliveries d where d.endpoint_id = p_endpoint.id and d.status = 'delivered')
  )
$$;

comment on function public._webhook_endpoint_json(public.webhook_endpoints) is
  'A webhook endpoint as the admin API shows it, with its pending, dead and delivered delivery counts; never the secret.';

-- claim_webhook_deliveries(): takes up to p_limit due deliveries of enabled endpoints under a new
-- lease (webhook_settings.lease), counting an attempt each. Concurrent claimers skip each other's rows.
create function public.claim_webhook_deliveries(p_limit integer, p_now timestamptz default now())
returns table (
  delivery_id bigint,
  lease_token uuid,
  attempt integer,
  endpoint_id bigint,
  url text,
  secret text,
  event_id text,
  event_type text,
  occurred_at timestamptz,
  body jsonb
)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_lease interval := (select s.lease from public.webhook_settings s);
begin
  return query
  with due as (
    select d.id
      from public.webhook_deliveries d
      join public.webhook_endpoints e on e.id = d.endpoint_id
     where d.status = 'pending'
       and d.next_attempt_at <= p_now
       and (d.lease_until is null or d.lease_until <= p_now)
       and e.enabled
     order by d.next_attempt_at, d.id
     limit greatest(p_limit, 0)
     for update of d skip locked
  ), claimed as (
    update public.webhook_deliveries d
       set attempts = d.attempts + 1,
           lease_token = gen_random_uuid(),
           lease_until = p_now + coalesce(v_lease, interval '60 seconds'),
           updated_at = p_now
      from due
     where d.id = due.id
    returning d.id, d.lease_token, d.attempts, d.endpoint_id, d.event_id
  )
  select c.id, c.lease_token, c.attempts, e.id, e.url, e.secret, ev.id, ev.type, ev.occurred_at,
         jsonb_build_object('type', ev.type,
                            'timestamp', to_char(ev.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                            'data', ev.data)
    from claimed c
    join public.webhook_endpoints e on e.id = c.endpoint_id
    join public.webhook_events ev on ev.id = c.event_id;
end;
$$;

comment on function public.claim_webhook_deliveries(integer, timestamptz) is
  'Claims up to p_limit due pending deliveries of enabled endpoints (FOR UPDATE SKIP LOCKED): each gets a new lease_token, lease_until = p_now + webhook_settings.lease, attempts + 1. Returns what to send: url, secret, the event id (webhook-id) and the body {type, timestamp, data}.';

-- record_webhook_delivery_results(): the results of sent deliveries, in one statement. Each is
-- logged (webhook_delivery_attempts); it changes its delivery only while the lease token still
-- matches (a deliverer whose lease ran out and was claimed again only logs). 2xx: delivered.
-- Otherwise the next attempt waits retry_schedule[attempts]; past the schedule: dead.
-- p_results: [{delivery_id, lease_token, status_code (null: no answer), error, started_at, finished_at}].
create function public.record_webhook_delivery_results(p_results jsonb, p_now timestamptz default now())
returns table (delivery_id bigint, status text, attempts integer, next_attempt_at timestamptz)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_schedule interval[] := (select s.retry_schedule from public.webhook_settings s);
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'p_results must be a JSON array' using errcode = '22023';
  end if;
  return query
  with r as (
    select (x ->> 'delivery_id')::bigint as id,
           (x ->> 'lease_token')::uuid as token,
           (x ->> 'status_code')::integer as code,
           left(x ->> 'error', 500) as error,
           coalesce((x ->> 'started_at')::timestamptz, p_now) as started_at,
           coalesce((x ->> 'finished_at')::timestamptz, p_now) as finished_at
      from jsonb_array_elements(p_results) x
  ), logged as (
    insert into public.webhook_delivery_attempts (delivery_id, attempt, started_at, finished_at, status_code, error)
    select r.id, d.attempts, r.started_at, r.finished_at, r.code, r.error
      from r join public.webhook_deliveries d on d.id = r.id
    returning 1
  )
  update public.webhook_deliveries d
     set status = case when r.code between 200 and 299 then 'delivered'
                       when d.attempts > coalesce(cardinality(v_schedule), 0) then 'dead'
                       else 'pending' end,
         next_attempt_at = case when r.code between 200 and 299 or d.attempts > coalesce(cardinality(v_schedule), 0)
                                then d.next_attempt_at
                                else p_now + v_schedule[d.attempts] end,
         delivered_at = case when r.code between 200 and 299 then r.finished_at else d.delivered_at end,
         last_status_code = r.code,
         last_error = r.error,
         lease_token = null,
         lease_until = null,
         updated_at = p_now
    from r
   where d.id = r.id and d.lease_token = r.token and d.status = 'pending'
  returning d.id, d.status, d.attempts, d.next_attempt_at;
end;
$$;

comment on function public.record_webhook_delivery_results(jsonb, timestamptz) is
  'Records sent webhook deliveries [{delivery_id, lease_token, status_code, error, started_at, finished_at}]: each attempt logged; the delivery (only while its lease_token matches) becomes delivered on 2xx, else pending again after webhook_settings.retry_schedule[attempts], or dead once the schedule is used up.';

-- admin_create_webhook_endpoint(): registers an endpoint, audited as webhook.create (never the secret).
create function public.admin_create_webhook_endpoint(
  p_url text,
  p_events text[],
  p_secret text,
  p_description text,
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
  v_row public.webhook_endpoints;
begin
  insert into public.webhook_endpoints (url, events, secret, description, created_at, created_by, updated_at)
  values (p_url, (select array_agg(distinct x order by x) from unnest(p_events) x), p_secret,
          nullif(btrim(p_description), ''), p_now, p_actor, p_now)
  returning * into v_row;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'webhook.create', 'webhook ' || v_row.id,
                                        null, public._webhook_endpoint_json(v_row), p_now, p_actor_role);
  return public._webhook_endpoint_json(v_row);
end;
$$;

comment on function public.admin_create_webhook_endpoint(text, text[], text, text, text, bigint, timestamptz, text) is
  'Registers a webhook endpoint (url, events, Standard Webhooks secret, description) and records webhook.create in operator_audit_log. Returns the endpoint without its secret. Bad url, events or secret: 23514.';

-- admin_set_webhook_endpoint_enabled(): turns an endpoint on or off, audited webhook.enable / .disable.
create function public.admin_set_webhook_endpoint_enabled(
  p_id bigint,
  p_enabled boolean,
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
  v_before public.webhook_endpoints;
  v_row public.webhook_endpoints;
begin
  select * into v_before from public.webhook_endpoints e where e.id = p_id for update;
  if v_before.id is null then
    return null;
  end if;
  update public.webhook_endpoints e set enabled = p_enabled, updated_at = p_now where e.id = p_id returning * into v_row;
  if v_before.enabled is distinct from p_enabled then
    perform public.record_operator_action(p_actor, p_actor_token_id,
                                          case when p_enabled then 'webhook.enable' else 'webhook.disable' end,
                                          'webhook ' || p_id, public._webhook_endpoint_json(v_before),
                                          public._webhook_endpoint_json(v_row), p_now, p_actor_role);
  end if;
  return public._webhook_endpoint_json(v_row);
end;
$$;

comment on function public.admin_set_webhook_endpoint_enabled(bigint, boolean, text, bigint, timestamptz, text) is
  'Enables or disables webhook endpoint p_id (its pending deliveries wait while it is disabled), recorded as webhook.enable / webhook.disable when it changes. Returns the endpoint, or null when there is none.';

-- admin_delete_webhook_endpoint(): deletes an endpoint with its deliveries and log, audited webhook.delete.
create function public.admin_delete_webhook_endpoint(
  p_id bigint,
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
  v_row public.webhook_endpoints;
  v_json jsonb;
begin
  select * into v_row from public.webhook_endpoints e where e.id = p_id for update;
  if v_row.id is null then
    return null;
  end if;
  v_json := public._webhook_endpoint_json(v_row);
  delete from public.webhook_endpoints e where e.id = p_id;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'webhook.delete', 'webhook ' || p_id,
                                        v_json, null, p_now, p_actor_role);
  return v_json;
end;
$$;

comment on function public.admin_delete_webhook_endpoint(bigint, text, bigint, timestamptz, text) is
  'Deletes webhook endpoint p_id with its deliveries and their log, recorded as webhook.delete. Returns the endpoint as it was, or null when there is none.';

-- admin_replay_webhook_deliveries(): sends deliveries again from the start of the retry schedule:
-- one delivery (p_delivery_id) of endpoint p_endpoint_id whatever its status, or, with
-- p_delivery_id null, every dead delivery of the endpoint. Audited webhook.replay.
create function public.admin_replay_webhook_deliveries(
  p_endpoint_id bigint,
  p_delivery_id bigint,
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
  v_ids bigint[];
begin
  if not exists (select 1 from public.webhook_endpoints e where e.id = p_endpoint_id) then
    return null;
  end if;
  with replayed as (
    update public.webhook_deliveries d
       set status = 'pending', attempts = 0, next_attempt_at = p_now, lease_token = null, lease_until = null,
           updated_at = p_now
     where d.endpoint_id = p_endpoint_id
       and (case when p_delivery_id is null then d.status = 'dead' else d.id = p_delivery_id end)
    returning d.id
  )
  select coalesce(array_agg(r.id order by r.id), '{}') into v_ids from replayed r;
  if cardinality(v_ids) > 0 then
    perform public.record_operator_action(p_actor, p_actor_token_id, 'webhook.replay', 'webhook ' || p_endpoint_id,
                                          null, jsonb_build_object('deliveries', to_jsonb(v_ids)), p_now, p_actor_role);
  end if;
  return jsonb_build_object('endpoint_id', p_endpoint_id::text, 'replayed', cardinality(v_ids),
                            'delivery_ids', (select coalesce(jsonb_agg(i::text), '[]'::jsonb) from unnest(v_ids) i));
end;
$$;

comment on function public.admin_replay_webhook_deliveries(bigint, bigint, text, bigint, timestamptz, text) is
  'Replays webhook deliveries of endpoint p_endpoint_id: p_delivery_id (any status), or every dead one when it is null; each becomes pending, due at p_now, attempts 0. Recorded as webhook.replay. Returns {endpoint_id, replayed, delivery_ids}, or null when there is no such endpoint.';

revoke all on function public._webhook_endpoint_json(public.webhook_endpoints) from public, anon, authenticated;
revoke all on function public.claim_webhook_deliveries(integer, timestamptz) from public, anon, authenticated;
revoke all on function public.record_webhook_delivery_results(jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public.admin_create_webhook_endpoint(text, text[], text, text, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_set_webhook_endpoint_enabled(bigint, boolean, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_delete_webhook_endpoint(bigint, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_replay_webhook_deliveries(bigint, bigint, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public._webhook_endpoint_json(public.webhook_endpoints) to service_role;
grant execute on function public.claim_webhook_deliveries(integer, timestamptz) to service_role;
grant execute on function public.record_webhook_delivery_results(jsonb, timestamptz) to service_role;
grant execute on function public.admin_create_webhook_endpoint(text, text[], text, text, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_set_webhook_endpoint_enabled(bigint, boolean, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_delete_webhook_endpoint(bigint, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_replay_webhook_deliveries(bigint, bigint, text, bigint, timestamptz, text) to service_role;
