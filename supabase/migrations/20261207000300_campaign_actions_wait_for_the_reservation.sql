-- Pausing, resuming and cancelling a campaign wait for a reservation in flight: admin_campaign_action()
-- takes the reservation's advisory lock (held by launch_due_calls() while it reserves, and by
-- reserve_due_calls() from before it reads the database's clock: 20261207000200) before the
-- campaign's row. A reservation that reserved for the campaign already held up a pause (it had
-- updated the campaign's row); one that did not could still read its clock before a resume
-- committed and take its snapshot after it, and stamp the campaign's calls queued a moment before
-- the resume. With the lock, every reservation is wholly before or wholly after the operator's
-- change. The wait is a reservation's length at most (milliseconds; about a second at 50,000
-- reservations); the reservation never waits (it answers busy while the lock is held).
create or replace function public.admin_campaign_action(
  p_id bigint,
  p_action text,
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
  v_before public.campaigns;
  v_after public.campaigns;
  v_preview jsonb;
  v_released integer := 0;
  v_ended integer := 0;
  v_result jsonb;
begin
  -- After any reservation in flight, before any that follows (the reservation's lock, taken
  -- before the campaign's row, in the order the reservation takes them).
  perform pg_catalog.pg_advisory_xact_lock(public._lock_key('launch_due_calls'));
  select * into v_before from public.campaigns c where c.id = p_id for update;
  if not found then
    return null;
  end if;
  v_preview := public.campaign_action_preview(p_id, p_action);
  if not (v_preview ->> 'allowed')::boolean then
    raise exception '%', v_preview ->> 'reason' using errcode = 'object_not_in_prerequisite_state';
  end if;
  update public.campaigns c
     set status = (v_preview ->> 'status_after')::public.campaign_status, updated_at = p_now
   where c.id = p_id
  returning c.* into v_after;
  if p_action in ('pause', 'cancel') then
    with released as (
      update public.calls cl
         set status = 'canceled', released_at = p_now, ended_at = p_now, updated_at = p_now,
             error = 'released before dialling: campaign is ' || lower(v_after.status::text)
       where cl.campaign_id = p_id and cl.status = 'queued'
      returning cl.contact_id
    ),
    contacts_released as (
      update public.contacts ct
         set status = case when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                           then 'do_not_call'::public.contact_status
                           else 'pending'::public.contact_status end,
             last_error = 'call released before dialling: campaign is ' || lower(v_after.status::text),
             updated_at = p_now
        from released r
       where ct.id = r.contact_id and ct.status = 'in_progress'
      returning ct.id
    )
    select count(*)::integer into v_released from released;
  end if;
  if p_action = 'cancel' then
    update public.contacts ct
       set status = 'cancelled', last_error = 'campaign cancelled', updated_at = p_now
     where ct.campaign_id = p_id and ct.status = 'pending';
    get diagnostics v_ended = row_count;
  end if;
  v_result := jsonb_build_object(
    'campaign', to_jsonb(v_after),
    'queued_calls_released', v_released,
    'active_calls_finishing', (v_preview ->> 'active_calls_finishing')::integer,
    'pending_contacts_ended', v_ended);
  perform public.record_operator_action(p_actor, p_actor_token_id, 'campaign.' || p_action, 'campaign ' || p_id,
                                        to_jsonb(v_before), v_result, p_now, p_actor_role);
  return v_result;
end;
$$;

comment on function public.admin_campaign_action(bigint, text, text, bigint, timestamptz, text) is
  'Pauses (QUEUED/RUNNING -> PAUSED, queued calls released, active calls finish), resumes (PAUSED -> RUNNING, or QUEUED if never started) or cancels (-> CANCELLED, queued calls released, pending contacts cancelled) campaign p_id, and records campaign.<action> (before/after with the counts) in operator_audit_log. Waits for a reservation in flight (the reservation''s advisory lock). SQLSTATE 55000 when the status does not allow it; null when there is no such campaign.';
