-- Outcome webhooks: endpoints the customer registers, the outbox of events and one delivery per
-- (event, endpoint). An event is written by AFTER triggers on calls, contacts and campaigns, so it
-- commits (or rolls back) with the state change that caused it, whichever function made that
-- change. The Edge Functions deliver (webhook delivery functions, next migration); nothing here
-- sends anything.

-- What a customer can subscribe to.
create function public._webhook_event_types()
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$ select array['call.completed', 'contact.finished', 'campaign.status_changed']::text[] $$;

comment on function public._webhook_event_types() is
  'The webhook event types: call.completed, contact.finished, campaign.status_changed.';

create table public.webhook_endpoints (
  id bigint generated always as identity primary key,
  url text not null,
  events text[] not null,
  -- The Standard Webhooks signing secret (whsec_ + base64). Kept readable: every delivery is signed
  -- with it. Never returned by the admin API after it was created.
  secret text not null,
  description text,
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  created_by text,
  updated_at timestamptz not null default now(),
  -- https:// (http:// only where the functions allow private URLs); the address checks (private,
  -- loopback, link-local ...) need DNS, so the functions make them, at registration and delivery.
  constraint webhook_endpoints_url_is_http check (url ~ '^https?://[^\s/?#]+' and length(url) <= 2000),
  constraint webhook_endpoints_events_are_known check (
    cardinality(events) >= 1 and events <@ public._webhook_event_types()
  ),
  constraint webhook_endpoints_secret_is_whsec check (secret ~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$'),
  constraint webhook_endpoints_description_is_short check (description is null or length(description) <= 200)
);

comment on table public.webhook_endpoints is
  'Where outcome events are sent (Standard Webhooks: signed with secret). A disabled endpoint keeps its pending deliveries; they go when it is enabled again.';

alter table public.webhook_endpoints enable row level security;
revoke all on table public.webhook_endpoints from anon, authenticated;
revoke all on sequence public.webhook_endpoints_id_seq from anon, authenticated;

-- The outbox: one row per event, written in the transaction of the change it reports. Only
-- written when at least one enabled endpoint subscribes to its type (nothing to keep otherwise).
create table public.webhook_events (
  -- The Standard Webhooks message id (webhook-id): receivers dedupe on it.
  id text primary key default ('msg_' || replace(gen_random_uuid()::text, '-', '')),
  -- The order events were written in (several can share a transaction, hence a time).
  seq bigint generated always as identity unique,
  type text not null,
  data jsonb not null,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  constraint webhook_events_type_is_known check (type = any (public._webhook_event_types()))
);

-- Retention (purge_webhook_events): the oldest first.
create index webhook_events_by_age on public.webhook_events (created_at);

comment on table public.webhook_events is
  'Outbox of webhook events (id: the webhook-id receivers dedupe on). Written by triggers in the same transaction as the state change; delivered by the functions through webhook_deliveries.';

alter table public.webhook_events enable row level security;
revoke all on table public.webhook_events from anon, authenticated;
revoke all on sequence public.webhook_events_seq_seq from anon, authenticated;

-- pending: to send at next_attempt_at (leased while a deliverer sends it). delivered: a 2xx came
-- back. dead: every attempt of the retry schedule failed; only a replay sends it again.
create table public.webhook_deliveries (
  id bigint generated always as identity primary key,
  event_id text not null references public.webhook_events (id) on delete cascade,
  endpoint_id bigint not null references public.webhook_endpoints (id) on delete cascade,
  status text not null default 'pending',
  -- Sends since it was created or last replayed.
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  -- Who holds it while sending, and until when: another deliverer claims it only after lease_until.
  lease_token uuid,
  lease_until timestamptz,
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_deliveries_one_per_endpoint unique (event_id, endpoint_id),
  constraint webhook_deliveries_status_is_known check (status in ('pending', 'delivered', 'dead')),
  constraint webhook_deliveries_attempts_is_not_negative check (attempts >= 0)
);

-- The deliverers' claim: due pending deliveries, oldest first.
create index webhook_deliveries_due on public.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_by_endpoint on public.webhook_deliveries (endpoint_id, id);

comment on table public.webhook_deliveries is
  'One delivery of an event to an endpoint: pending (next_attempt_at, leased while sent), delivered, or dead (retry schedule used up; replayable).';

alter table public.webhook_deliveries enable row level security;
revoke all on table public.webhook_deliveries from anon, authenticated;
revoke all on sequence public.webhook_deliveries_id_seq from anon, authenticated;

-- The delivery log: one row per HTTP attempt.
create table public.webhook_delivery_attempts (
  id bigint generated always as identity primary key,
  delivery_id bigint not null references public.webhook_deliveries (id) on delete cascade,
  attempt integer not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  -- The HTTP status, or null when no answer came (timeout, connection refused, refused address).
  status_code integer,
  error text,
  constraint webhook_delivery_attempts_error_is_short check (error is null or length(error) <= 500)
);

create index webhook_delivery_attempts_by_delivery on public.webhook_delivery_attempts (delivery_id, id);

comment on table public.webhook_delivery_attempts is
  'The delivery log: each HTTP attempt of a webhook delivery, with its status code or error and times.';

alter table public.webhook_delivery_attempts enable row level security;
revoke all on table public.webhook_delivery_attempts from anon, authenticated;
revoke all on sequence public.webhook_delivery_attempts_id_seq from anon, authenticated;

-- One row: the retry schedule and the lease. The benchmark and tests scale the schedule down.
create table public.webhook_settings (
  id boolean primary key default true,
  -- The wait after each failed attempt: attempt n failed -> wait retry_schedule[n]; once they are
  -- used up, the next failure makes the delivery dead. The default spans about 27 hours.
  retry_schedule interval[] not null default
    '{5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours, 10 hours}'::interval[],
  -- How long a claimed delivery is held by its deliverer (longer than a request's timeout).
  lease interval not null default interval '60 seconds',
  constraint webhook_settings_one_row check (id),
  constraint webhook_settings_schedule_is_sane check (
    cardinality(retry_schedule) between 1 and 20 and interval '0' < all (retry_schedule)
  ),
  constraint webhook_settings_lease_is_sane check (lease >= interval '1 second' and lease <= interval '1 hour')
);

insert into public.webhook_settings default values;

comment on table public.webhook_settings is
  'Webhook delivery settings (one row): retry_schedule (wait after each failed attempt; then dead) and lease (how long a claimed delivery is held).';

alter table public.webhook_settings enable row level security;
revoke all on table public.webhook_settings from anon, authenticated;

-- Does any enabled endpoint subscribe to p_type? The triggers ask first, so that a database
-- without webhooks pays one probe of a tiny table per change and builds no payload.
create function public._webhook_subscribed(p_type text)
returns boolean
language sql
stable
set search_path = ''
as $$ select exists (select 1 from public.webhook_endpoints e where e.enabled and p_type = any (e.events)) $$;

comment on function public._webhook_subscribed(text) is
  'Whether any enabled webhook endpoint subscribes to event type p_type.';

-- Writes one event and its deliveries to every enabled endpoint subscribed to its type; nothing
-- when there is none. Due at once (the earlier of the event's time and the transaction's).
create function public._enqueue_webhook_event(p_type text, p_data jsonb, p_at timestamptz)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_id text;
begin
  if not public._webhook_subscribed(p_type) then
    return;
  end if;
  insert into public.webhook_events (type, data, occurred_at)
  values (p_type, p_data, p_at)
  returning id into v_id;
  insert into public.webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at, updated_at)
  select v_id, e.id, least(p_at, now()), p_at, p_at
    from public.webhook_endpoints e
   where e.enabled and p_type = any (e.events);
end;
$$;

comment on function public._enqueue_webhook_event(text, jsonb, timestamptz) is
  'Writes a webhook event (outbox) and one pending delivery per enabled endpoint subscribed to p_type, in the caller''s transaction; nothing when no endpoint subscribes.';

-- call.completed: an attempt reached a final status (a released reservation is not an attempt).
-- Fires once per call that ends (the WHEN clause below: never while a call is claimed, dialled or
-- recorded). With no endpoint subscribed it costs one probe of webhook_endpoints, asked here rather
-- than through _webhook_subscribed() (the same test): a SQL function with a search_path is planned
-- again at every call, this query's plan is kept by the session.
create function public._calls_webhook_event()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from public.webhook_endpoints e where e.enabled and 'call.completed' = any (e.events)) then
    return null;
  end if;
  perform public._enqueue_webhook_event('call.completed', jsonb_build_object(
    'call_id', new.id::text,
    'campaign_id', new.campaign_id::text,
    'contact_id', new.contact_id::text,
    'phone', new.to_phone,
    'attempt', new.attempt,
    'outcome', new.status,
    'answered_by', new.answered_by,
    'duration_seconds', new.duration_seconds,
    'error', new.error,
    'error_code', new.error_code,
    'provider', new.provider,
    'provider_call_id', new.provider_call_id,
    'answered_at', new.answered_at,
    'ended_at', new.ended_at
  ), coalesce(new.ended_at, new.updated_at));
  return null;
end;
$$;

comment on function public._calls_webhook_event() is
  'AFTER UPDATE trigger on calls: a call reaching completed, busy, no_answer, failed or canceled (not a released reservation) writes a call.completed webhook event.';

create trigger calls_webhook_event
  after update of status on public.calls
  for each row
  when (new.status in ('completed', 'busy', 'no_answer', 'failed', 'canceled')
        and old.status not in ('completed', 'busy', 'no_answer', 'failed', 'canceled')
        and new.released_at is null)
  execute function public._calls_webhook_event();

-- contact.finished: a contact left the calling for good. reason: reached (done), exhausted,
-- invalid, do_not_call, opted_out (do_not_call because the person opted out during one of our
-- calls), cancelled. The contacts and campaigns triggers ask _webhook_subscribed() in their WHEN
-- clause: without a subscriber no trigger event is queued and no function runs (a cold reservation
-- tick starts thousands of campaigns in one statement).
create function public._contacts_webhook_event()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_reason text := case new.status
    when 'done' then 'reached'
    else new.status::text
  end;
begin
  -- Runs only when an endpoint subscribes (the trigger's WHEN clause).
  if new.status = 'do_not_call'
     and exists (select 1 from public.do_not_call_numbers d where d.phone = new.phone and d.added_by like 'call %') then
    v_reason := 'opted_out';
  end if;
  perform public._enqueue_webhook_event('contact.finished', jsonb_build_object(
    'contact_id', new.id::text,
    'campaign_id', new.campaign_id::text,
    'phone', new.phone,
    'status', new.status,
    'reason', v_reason,
    'attempts', new.attempts,
    'last_call_status', new.last_call_status,
    'last_error', new.last_error,
    'metadata', new.metadata
  ), new.updated_at);
  return null;
end;
$$;

comment on function public._contacts_webhook_event() is
  'AFTER UPDATE trigger on contacts: a contact reaching done, exhausted, invalid, do_not_call or cancelled writes a contact.finished webhook event (reason reached, exhausted, invalid, do_not_call, opted_out or cancelled).';

create trigger contacts_webhook_event
  after update of status on public.contacts
  for each row
  when (new.status in ('done', 'exhausted', 'invalid', 'do_not_call', 'cancelled')
        and old.status in ('pending', 'in_progress')
        and public._webhook_subscribed('contact.finished'))
  execute function public._contacts_webhook_event();

-- campaign.status_changed: every change of a campaign's status (started, paused by an operator or
-- by a provider refusal, resumed, completed, cancelled).
create function public._campaigns_webhook_event()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- Runs only when an endpoint subscribes (the trigger's WHEN clause).
  perform public._enqueue_webhook_event('campaign.status_changed', jsonb_build_object(
    'campaign_id', new.id::text,
    'name', new.name,
    'from', old.status,
    'to', new.status,
    'paused_reason', new.paused_reason,
    'cause', case when new.status = 'PAUSED' and new.paused_reason is not null then 'provider_error'
                  when new.status = 'COMPLETED' then 'finished'
                  when new.status = 'RUNNING' and old.status = 'QUEUED' then 'started'
                  else 'operator' end
  ), new.updated_at);
  return null;
end;
$$;

comment on function public._campaigns_webhook_event() is
  'AFTER UPDATE trigger on campaigns: a status change writes a campaign.status_changed webhook event (from, to, paused_reason, cause: started, finished, provider_error or operator).';

create trigger campaigns_webhook_event
  after update of status on public.campaigns
  for each row
  when (new.status is distinct from old.status and public._webhook_subscribed('campaign.status_changed'))
  execute function public._campaigns_webhook_event();

revoke all on function public._webhook_event_types() from public, anon, authenticated;
revoke all on function public._webhook_subscribed(text) from public, anon, authenticated;
revoke all on function public._enqueue_webhook_event(text, jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public._calls_webhook_event() from public, anon, authenticated;
revoke all on function public._contacts_webhook_event() from public, anon, authenticated;
revoke all on function public._campaigns_webhook_event() from public, anon, authenticated;
grant execute on function public._webhook_event_types() to service_role;
grant execute on function public._webhook_subscribed(text) to service_role;
grant execute on function public._enqueue_webhook_event(text, jsonb, timestamptz) to service_role;
