-- Campaigns from the admin API (scheduler-admin) and the CLI: create, edit, pause, resume, cancel,
-- each in one statement (one transaction through the pooler) together with its row in
-- operator_audit_log (who, what, before/after). The fields arrive as JSON already checked by the
-- shared zod schema (supabase/functions/_shared/campaign-schema.ts); the table's CHECK constraints
-- and triggers stay the last word (a violation raises SQLSTATE 23514 naming the constraint).
--
-- pause:  QUEUED/RUNNING -> PAUSED. Queued calls are released at once (canceled, released_at set,
--         not an attempt; the contact goes back to pending); active calls (dialing, unknown,
--         ringing, in_progress) finish. Nothing is reserved while paused.
-- resume: PAUSED -> RUNNING (QUEUED when it never started). Contacts are served again.
-- cancel: QUEUED/RUNNING/PAUSED -> CANCELLED, for good. Queued calls are released, active calls
--         finish, and every pending contact becomes 'cancelled'.

-- _apply_campaign_fields(): sets the columns named in p_fields (and only those) on campaign p_id.
create function public._apply_campaign_fields(p_id bigint, p_fields jsonb, p_now timestamptz)
returns public.campaigns
language plpgsql
set search_path = ''
as $$
declare
  v_after public.campaigns;
begin
  if jsonb_typeof(p_fields) is distinct from 'object' then
    raise exception 'the campaign fields must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  -- An unknown provider account, named (the foreign key campaigns_provider_account_fkey stays the
  -- last word: this check and the write are not one snapshot).
  if p_fields ? 'provider_account' and jsonb_typeof(p_fields -> 'provider_account') = 'string'
     and not exists (select 1 from public.provider_accounts a where a.id = p_fields ->> 'provider_account') then
    raise exception 'unknown provider account "%"', p_fields ->> 'provider_account'
      using errcode = 'foreign_key_violation', constraint = 'campaigns_provider_account_fkey',
            hint = 'create it first (POST /scheduler-admin/accounts) or choose one of the existing accounts';
  end if;
  update public.campaigns c
     set name = case when p_fields ? 'name' then r.name else c.name end,
         max_concurrent_calls = case when p_fields ? 'max_concurrent_calls' then r.max_concurrent_calls
                                     else c.max_concurrent_calls end,
         priority = case when p_fields ? 'priority' then r.priority else c.priority end,
         provider = case when p_fields ? 'provider' then r.provider else c.provider end,
         provider_account = case when p_fields ? 'provider_account' then r.provider_account
                                 else c.provider_account end,
         caller_id = case when p_fields ? 'caller_id' then r.caller_id else c.caller_id end,
         provider_settings = case when p_fields ? 'provider_settings' then r.provider_settings
                                  else c.provider_settings end,
         time_zone = case when p_fields ? 'time_zone' then r.time_zone else c.time_zone end,
         window_start = case when p_fields ? 'window_start' then r.window_start else c.window_start end,
         window_end = case when p_fields ? 'window_end' then r.window_end else c.window_end end,
         window_days = case when p_fields ? 'window_days' then r.window_days else c.window_days end,
         max_attempts = case when p_fields ? 'max_attempts' then r.max_attempts else c.max_attempts end,
         retry_busy = case when p_fields ? 'retry_busy' then r.retry_busy else c.retry_busy end,
         retry_busy_delay = case when p_fields ? 'retry_busy_delay' then r.retry_busy_delay else c.retry_busy_delay end,
         retry_no_answer = case when p_fields ? 'retry_no_answer' then r.retry_no_answer else c.retry_no_answer end,
         retry_no_answer_delay = case when p_fields ? 'retry_no_answer_delay' then r.retry_no_answer_delay else c.retry_no_answer_delay end,
         retry_machine_delay = case when p_fields ? 'retry_machine_delay' then r.retry_machine_delay else c.retry_machine_delay end,
         retry_failed = case when p_fields ? 'retry_failed' then r.retry_failed else c.retry_failed end,
         retry_failed_delay = case when p_fields ? 'retry_failed_delay' then r.retry_failed_delay else c.retry_failed_delay end,
         starts_at = case when p_fields ? 'starts_at' then r.starts_at else c.starts_at end,
         ends_at = case when p_fields ? 'ends_at' then r.ends_at else c.ends_at end,
         purpose = case when p_fields ? 'purpose' then r.purpose else c.purpose end,
         requires_consent = case when p_fields ? 'requires_consent' then r.requires_consent
                                 else c.requires_consent end,
         machine_answer_policy = case when p_fields ? 'machine_answer_policy' then r.machine_answer_policy
                                      else c.machine_answer_policy end,
         updated_at = p_now
    from jsonb_populate_record(null::public.campaigns, p_fields) r
   where c.id = p_id
  returning c.* into v_after;
  return v_after;
end;
$$;

comment on function public._apply_campaign_fields(bigint, jsonb, timestamptz) is
  'Sets the editable columns named in p_fields (name, max_concurrent_calls, priority, provider, provider_account, caller_id, provider_settings, time_zone, window_start, window_end, window_days, max_attempts, retry_busy, retry_busy_delay, retry_no_answer, retry_no_answer_delay, retry_machine_delay, retry_failed, retry_failed_delay, starts_at, ends_at, requires_consent, purpose, machine_answer_policy) on campaign p_id; the rest stay; an unknown provider_account raises 23503 naming it. Returns the row after (null id when there is no such campaign).';

-- admin_create_campaign(): a new campaign (table defaults, then p_fields), audited as campaign.create.
create function public.admin_create_campaign(
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
  v_id bigint;
  v_after public.campaigns;
begin
  if not (p_fields ? 'name') then
    raise exception 'name is required' using errcode = 'invalid_parameter_value';
  end if;
  insert into public.campaigns (name, created_at, updated_at) values (p_fields ->> 'name', p_now, p_now)
  returning id into v_id;
  v_after := public._apply_campaign_fields(v_id, p_fields, p_now);
  perform public.record_operator_action(p_actor, p_actor_token_id, 'campaign.create', 'campaign ' || v_id,
                                        null, to_jsonb(v_after), p_now, p_actor_role);
  return to_jsonb(v_after);
end;
$$;

comment on function public.admin_create_campaign(jsonb, text, bigint, timestamptz, text) is
  'Creates a campaign from p_fields (see _apply_campaign_fields; name required, the rest default) and records campaign.create in operator_audit_log. Returns the row as JSON.';

-- admin_update_campaign(): edits the fields named in p_fields, audited as campaign.update with
-- the row before and after. Null when there is no such campaign.
create function public.admin_update_campaign(
  p_id bigint,
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
  v_before public.campaigns;
  v_after public.campaigns;
begin
  select * into v_before from public.campaigns c where c.id = p_id for update;
  if not found then
    return null;
  end if;
  v_after := public._apply_campaign_fields(p_id, p_fields, p_now);
  perform public.record_operator_action(p_actor, p_actor_token_id, 'campaign.update', 'campaign ' || p_id,
                                        to_jsonb(v_before), to_jsonb(v_after), p_now, p_actor_role);
  return to_jsonb(v_after);
end;
$$;

comment on function public.admin_update_campaign(bigint, jsonb, text, bigint, timestamptz, text) is
  'Edits the campaign fields named in p_fields and records campaign.update (before/after) in operator_audit_log. Returns the row after as JSON, or null when there is no such campaign.';

-- campaign_action_preview(): what pause / resume / cancel would do to campaign p_id now, without
-- doing it: whether it is allowed (and why not), the status after, the queued calls released,
-- the active calls left to finish, the pending contacts ended. Null when there is no such campaign.
create function public.campaign_action_preview(p_id bigint, p_action text)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_campaign public.campaigns;
  v_allowed boolean;
  v_to public.campaign_status;
  v_queued integer;
  v_active integer;
  v_pending integer;
begin
  if p_action is null or p_action not in ('pause', 'resume', 'cancel') then
    raise exception 'action must be pause, resume or cancel' using errcode = 'invalid_parameter_value';
  end if;
  select * into v_campaign from public.campaigns c where c.id = p_id;
  if not found then
    return null;
  end if;
  v_allowed := case p_action
                 when 'pause' then v_campaign.status in ('QUEUED', 'RUNNING')
                 when 'resume' then v_campaign.status = 'PAUSED'
                 else v_campaign.status in ('QUEUED', 'RUNNING', 'PAUSED') end;
  v_to := case p_action
            when 'pause' then 'PAUSED'::public.campaign_status
            when 'resume' then case when v_campaign.started_at is null then 'QUEUED'::public.campaign_status
                                    else 'RUNNING'::public.campaign_status end
            else 'CANCELLED'::public.campaign_status end;
  select count(*) filter (where cl.status = 'queued')::integer,
         count(*) filter (where cl.status in ('dialing', 'unknown', 'ringing', 'in_progress'))::integer
    into v_queued, v_active
    from public.calls cl
   where cl.campaign_id = p_id and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress');
  select count(*)::integer into v_pending from public.contacts ct where ct.campaign_id = p_id and ct.status = 'pending';
  return jsonb_build_object(
    'campaign_id', p_id,
    'action', p_action,
    'status', v_campaign.status,
    'allowed', v_allowed,
    'reason', case when v_allowed then null
                   else 'a ' || lower(v_campaign.status::text) || ' campaign cannot be ' ||
                        case p_action when 'pause' then 'paused' when 'resume' then 'resumed' else 'cancelled' end end,
    'status_after', case when v_allowed then v_to else v_campaign.status end,
    'queued_calls_released', case when v_allowed and p_action <> 'resume' then v_queued else 0 end,
    'active_calls_finishing', v_active,
    -- a cancel releases the queued calls first: their contacts end with the pending ones
    'pending_contacts_ended', case when v_allowed and p_action = 'cancel' then v_pending + v_queued else 0 end,
    'pending_contacts', v_pending);
end;
$$;

comment on function public.campaign_action_preview(bigint, text) is
  'What p_action (pause, resume, cancel) would do to campaign p_id now, without doing it: {campaign_id, action, status, allowed, reason, status_after, queued_calls_released, active_calls_finishing, pending_contacts_ended, pending_contacts}. Null when there is no such campaign.';

-- admin_campaign_action(): pauses, resumes or cancels campaign p_id (see the top of this file),
-- audited as campaign.pause / campaign.resume / campaign.cancel with the row before and after and
-- the counts. Refuses (SQLSTATE 55000) an action the campaign's status does not allow. Null when
-- there is no such campaign.
create function public.admin_campaign_action(
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
  'Pauses (QUEUED/RUNNING -> PAUSED, queued calls released, active calls finish), resumes (PAUSED -> RUNNING, or QUEUED if never started) or cancels (-> CANCELLED, queued calls released, pending contacts cancelled) campaign p_id, and records campaign.<action> (before/after with the counts) in operator_audit_log. SQLSTATE 55000 when the status does not allow it; null when there is no such campaign.';

revoke all on function public._apply_campaign_fields(bigint, jsonb, timestamptz) from public, anon, authenticated;
revoke all on function public.admin_create_campaign(jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_update_campaign(bigint, jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.campaign_action_preview(bigint, text) from public, anon, authenticated;
revoke all on function public.admin_campaign_action(bigint, text, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public._apply_campaign_fields(bigint, jsonb, timestamptz) to service_role;
grant execute on function public.admin_create_campaign(jsonb, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_update_campaign(bigint, jsonb, text, bigint, timestamptz, text) to service_role;
grant execute on function public.campaign_action_preview(bigint, text) to service_role;
grant execute on function public.admin_campaign_action(bigint, text, text, bigint, timestamptz, text) to service_role;
