-- The reaper: calls stuck past their timeouts, and queued calls nobody took (the call lifecycle is
-- drawn in 20261128001300_add_call_lifecycle_functions.sql).

-- expire_stuck_calls(): the reaper. Calls stuck in dialing/unknown past stuck_call_timeout (lost
-- callback, crashed function) and calls ringing/in progress past max_call_duration become failed:
-- the slot is freed and the attempt counts; the contact is retried if attempts remain.
create function public.expire_stuck_calls(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_call record;
  v_count integer := 0;
begin
  v_settings := public._settings();
  for v_call in
    with stuck as (
      select cl.id
        from public.calls cl
       where (cl.status in ('dialing', 'unknown') and cl.dialed_at < p_now - v_settings.stuck_call_timeout)
          or (cl.status in ('ringing', 'in_progress') and cl.dialed_at < p_now - v_settings.max_call_duration)
       order by cl.dialed_at
         for update skip locked
    )
    update public.calls cl
       set status = 'failed', ended_at = p_now, updated_at = p_now,
           error = 'expired: no final status from the provider after '
                   || case when cl.status in ('dialing', 'unknown') then v_settings.stuck_call_timeout
                           else v_settings.max_call_duration end::text
      from stuck s
     where cl.id = s.id
    returning cl.contact_id
  loop
    perform public._settle_contact(v_call.contact_id, 'failed', false, 'call expired without a final status', p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

comment on function public.expire_stuck_calls(timestamptz) is
  'Reaper: calls in dialing/unknown older than scheduler_settings.stuck_call_timeout, or ringing/in_progress older than max_call_duration, become failed (slot freed, attempt counted, contact retried if attempts remain). Returns how many.';

-- release_stale_queued_calls(): queued calls that no dispatcher took within queued_call_ttl, or
-- whose campaign is no longer QUEUED/RUNNING, go back to their contact without counting an attempt.
create function public.release_stale_queued_calls(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_settings public.scheduler_settings;
  v_count integer;
begin
  v_settings := public._settings();
  with stale as (
    select cl.id, case when c.status not in ('QUEUED', 'RUNNING') then 'campaign is ' || lower(c.status::text)
                       else 'waited in queue longer than queued_call_ttl' end as reason
      from public.calls cl
      join public.campaigns c on c.id = cl.campaign_id
     where cl.status = 'queued'
       and (cl.queued_at < p_now - v_settings.queued_call_ttl or c.status not in ('QUEUED', 'RUNNING'))
       for update of cl skip locked
  ),
  released as (
    update public.calls cl
       set status = 'canceled', released_at = p_now, ended_at = p_now, updated_at = p_now,
           error = 'released before dialling: ' || s.reason
      from stale s
     where cl.id = s.id
    returning cl.contact_id, s.reason
  ),
  contacts_released as (
    update public.contacts ct
       set status = case when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                         then 'do_not_call'::public.contact_status
                         else 'pending'::public.contact_status end,
           last_error = 'call released before dialling: ' || r.reason, updated_at = p_now
      from released r
     where ct.id = r.contact_id and ct.status = 'in_progress'
    returning ct.id
  )
  select count(*)::integer into v_count from released;
  return v_count;
end;
$$;

comment on function public.release_stale_queued_calls(timestamptz) is
  'Releases queued calls older than scheduler_settings.queued_call_ttl, or of campaigns no longer QUEUED/RUNNING: canceled with released_at, contact back to pending, no attempt counted. Returns how many.';

revoke all on function public.expire_stuck_calls(timestamptz) from public, anon, authenticated;
revoke all on function public.release_stale_queued_calls(timestamptz) from public, anon, authenticated;
grant execute on function public.expire_stuck_calls(timestamptz) to service_role;
grant execute on function public.release_stale_queued_calls(timestamptz) to service_role;
