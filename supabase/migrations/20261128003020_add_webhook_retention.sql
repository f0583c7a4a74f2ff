-- Webhook retention: the outbox would grow with every call otherwise. Events whose deliveries all
-- succeeded are deleted (with their deliveries and log) once older than p_keep; an event with a
-- pending or dead delivery is kept whatever its age, so nothing undelivered is ever thrown away.
-- The deliverers call it before each run, a bounded batch at a time.

create function public.purge_webhook_events(
  p_now timestamptz default now(),
  p_keep interval default interval '30 days',
  p_limit integer default 5000
)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_purged integer;
begin
  if p_keep < interval '1 hour' then
    raise exception 'p_keep must be at least an hour' using errcode = '22023';
  end if;
  with old as (
    select ev.id
      from public.webhook_events ev
     where ev.created_at < p_now - p_keep
       and not exists (select 1 from public.webhook_deliveries d where d.event_id = ev.id and d.status <> 'delivered')
     order by ev.created_at
     limit greatest(p_limit, 0)
     for update skip locked
  ), gone as (
    delete from public.webhook_events ev using old where ev.id = old.id returning 1
  )
  select count(*)::integer into v_purged from gone;
  return v_purged;
end;
$$;

comment on function public.purge_webhook_events(timestamptz, interval, integer) is
  'Deletes up to p_limit webhook events older than p_keep (default 30 days) whose deliveries were all delivered, with their deliveries and log; events with a pending or dead delivery are kept. Returns how many were deleted.';

revoke all on function public.purge_webhook_events(timestamptz, interval, integer) from public, anon, authenticated;
grant execute on function public.purge_webhook_events(timestamptz, interval, integer) to service_role;
