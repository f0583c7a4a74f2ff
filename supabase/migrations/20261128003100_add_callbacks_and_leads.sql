-- Scheduled callbacks and single leads (scheduler-admin, the CLI, the dashboard, and for callbacks
-- the call flow through its signed callback URL).
--
-- A callback: the person asked to be called again at an instant. contacts.callback_at holds it and
-- next_attempt_at follows it; launch_due_calls() reserves due callbacks before every other due
-- contact of the campaign, even with the contact's attempts used (the person asked), still within
-- windows, calling-hours rules, consent, do-not-call and the caps. A callback asked for during a
-- call waits for that call's end (_settle_contact keeps it); the call placed for a callback clears it.
--
-- A lead: one contact added on its own (JSON), with a priority (higher first among the campaign's
-- due contacts): speed to lead.

-- _set_contact_callback(): the callback of contact p_contact_id at p_at. A contact waiting (pending)
-- or ended without reaching its end for good (done, exhausted) waits for the callback (pending); a
-- contact in a call keeps the callback for when the call ends. Refused (55000) for a contact that
-- must never be called again (invalid number, do-not-call, cancelled) and in a campaign that is over
-- (cancelled, completed). Returns the contact after, or null when there is no such contact.
create function public._set_contact_callback(p_contact_id bigint, p_at timestamptz, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_contact public.contacts;
  v_campaign_status public.campaign_status;
  v_after jsonb;
begin
  if p_at is null then
    raise exception 'the callback needs an instant (at)' using errcode = 'invalid_parameter_value';
  end if;
  if p_at > p_now + interval '366 days' then
    raise exception 'a callback is at most a year ahead' using errcode = 'invalid_parameter_value';
  end if;
  select * into v_contact from public.contacts ct where ct.id = p_contact_id for update;
  if not found then
    return null;
  end if;
  select c.status into v_campaign_status from public.campaigns c where c.id = v_contact.campaign_id;
  if v_campaign_status in ('CANCELLED', 'COMPLETED') then
    raise exception 'campaign % is %: no callback can be scheduled', v_contact.campaign_id,
      lower(v_campaign_status::text) using errcode = 'object_not_in_prerequisite_state';
  end if;
  if v_contact.status in ('invalid', 'do_not_call', 'cancelled')
     or exists (select 1 from public.do_not_call_numbers d where d.phone = v_contact.phone) then
    raise exception 'contact % is not to be called (%)', p_contact_id,
      case when v_contact.status in ('invalid', 'cancelled') then v_contact.status::text else 'do_not_call' end
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  update public.contacts ct
     set callback_at = p_at,
         status = case when ct.status = 'in_progress' then ct.status else 'pending'::public.contact_status end,
         next_attempt_at = case when ct.status = 'in_progress' then ct.next_attempt_at else p_at end,
         updated_at = p_now
   where ct.id = p_contact_id
  returning jsonb_build_object('id', ct.id::text, 'campaign_id', ct.campaign_id::text, 'phone', ct.phone,
                               'status', ct.status, 'attempts', ct.attempts, 'callback_at', ct.callback_at,
                               'next_attempt_at', ct.next_attempt_at)
    into v_after;
  return v_after;
end;
$$;

comment on function public._set_contact_callback(bigint, timestamptz, timestamptz) is
  'Schedules contact p_contact_id''s callback at p_at (contacts.callback_at; next_attempt_at too unless the contact is in a call, whose end applies it): a pending, done or exhausted contact becomes pending. Refuses (55000) an invalid, do-not-call or cancelled contact and a cancelled or completed campaign; 22023 for no instant or one more than a year after p_now. Returns {id, campaign_id, phone, status, attempts, callback_at, next_attempt_at}, or null when there is no such contact.';

-- admin_set_contact_callback(): the same from an operator (scheduler-admin PUT
-- /campaigns/<id>/contacts/<contact id>/callback), audited as contact.callback with the callback
-- before and after. Null when the campaign has no such contact.
create function public.admin_set_contact_callback(
  p_campaign_id bigint,
  p_contact_id bigint,
  p_at timestamptz,
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
  v_before timestamptz;
  v_after jsonb;
begin
  select ct.callback_at into v_before
    from public.contacts ct
   where ct.id = p_contact_id and ct.campaign_id = p_campaign_id;
  if not found then
    return null;
  end if;
  v_after := public._set_contact_callback(p_contact_id, p_at, p_now);
  perform public.record_operator_action(p_actor, p_actor_token_id, 'contact.callback',
                                        'contact ' || p_contact_id || ' of campaign ' || p_campaign_id,
                                        jsonb_build_object('callback_at', v_before),
                                        jsonb_build_object('callback_at', v_after -> 'callback_at'), p_now, p_actor_role);
  return v_after;
end;
$$;

comment on function public.admin_set_contact_callback(bigint, bigint, timestamptz, text, bigint, timestamptz, text) is
  'Schedules the callback of contact p_contact_id of campaign p_campaign_id at p_at (_set_contact_callback) and records contact.callback (callback_at before and after) in operator_audit_log. Returns the contact after, or null when the campaign has no such contact.';

-- callback_during_call(): the callback the called person asked for during call p_call_id (the call
-- flow POSTs to its signed callback URL, callback-url.ts). The contact is the call's own, read from
-- the call row; audited as contact.callback by "call <id>".
create function public.callback_during_call(p_call_id bigint, p_at timestamptz, p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_call public.calls;
  v_before timestamptz;
  v_after jsonb;
begin
  select * into v_call from public.calls cl where cl.id = p_call_id;
  if not found then
    return null;
  end if;
  select ct.callback_at into v_before from public.contacts ct where ct.id = v_call.contact_id;
  v_after := public._set_contact_callback(v_call.contact_id, p_at, p_now);
  perform public.record_operator_action('call ' || p_call_id, null, 'contact.callback',
                                        'contact ' || v_call.contact_id || ' of campaign ' || v_call.campaign_id,
                                        jsonb_build_object('callback_at', v_before),
                                        jsonb_build_object('callback_at', v_after -> 'callback_at'), p_now, null);
  return v_after;
end;
$$;

comment on function public.callback_during_call(bigint, timestamptz, timestamptz) is
  'Schedules the callback asked for during call p_call_id on that call''s contact (_set_contact_callback; a call in progress applies it when it ends), audited as contact.callback by "call <id>". Returns the contact after, or null when there is no such call.';

-- admin_add_contact(): one contact (a lead) added to campaign p_campaign_id with its priority, due at
-- once (scheduler-admin POST /campaigns/<id>/leads), audited as contact.add. p_fields: phone (E.164,
-- already normalised), name, time_zone, metadata, consent_at, consent_method, consent_source,
-- consent_expires_at, priority. The table's constraints and triggers are the last word (23514 naming
-- the constraint; 23505 when the number is already a contact of the campaign). Null when there is
-- no such campaign; 55000 when it is cancelled or completed.
create function public.admin_add_contact(
  p_campaign_id bigint,
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
  v_status public.campaign_status;
  v_after jsonb;
begin
  if jsonb_typeof(p_fields) is distinct from 'object' then
    raise exception 'the contact fields must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  select c.status into v_status from public.campaigns c where c.id = p_campaign_id for key share;
  if not found then
    return null;
  end if;
  if v_status in ('CANCELLED', 'COMPLETED') then
    raise exception 'campaign % is %: contacts cannot be added', p_campaign_id, lower(v_status::text)
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  insert into public.contacts (campaign_id, phone, name, time_zone, metadata, consent_at, consent_method,
                               consent_source, consent_expires_at, priority, next_attempt_at, created_at, updated_at)
  select p_campaign_id, r.phone, r.name, r.time_zone, coalesce(r.metadata, '{}'::jsonb), r.consent_at,
         r.consent_method, r.consent_source, r.consent_expires_at, coalesce(r.priority, 0), p_now, p_now, p_now
    from jsonb_populate_record(null::public.contacts, p_fields - array['id', 'campaign_id', 'status']) r
  returning jsonb_build_object('id', id::text, 'campaign_id', campaign_id::text, 'phone', phone, 'name', name,
                               'time_zone', time_zone, 'status', status, 'priority', priority,
                               'next_attempt_at', next_attempt_at, 'consent_at', consent_at,
                               'consent_method', consent_method, 'consent_source', consent_source,
                               'consent_expires_at', consent_expires_at)
    into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'contact.add',
                                        'contact ' || (v_after ->> 'id') || ' of campaign ' || p_campaign_id,
                                        null, v_after, p_now, p_actor_role);
  return v_after;
end;
$$;

comment on function public.admin_add_contact(bigint, jsonb, text, bigint, timestamptz, text) is
  'Adds one contact (a lead) to campaign p_campaign_id from p_fields {phone, name, time_zone, metadata, consent_at, consent_method, consent_source, consent_expires_at, priority}, due at p_now, and records contact.add in operator_audit_log. Returns the contact as JSON; null when there is no such campaign; 55000 when it is cancelled or completed; 23505 when the number is already its contact; 23514 (naming the constraint) for a value the table refuses.';

revoke all on function public._set_contact_callback(bigint, timestamptz, timestamptz) from public, anon, authenticated;
revoke all on function public.admin_set_contact_callback(bigint, bigint, timestamptz, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.callback_during_call(bigint, timestamptz, timestamptz) from public, anon, authenticated;
revoke all on function public.admin_add_contact(bigint, jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public._set_contact_callback(bigint, timestamptz, timestamptz) to service_role;
grant execute on function public.admin_set_contact_callback(bigint, bigint, timestamptz, text, bigint, timestamptz, text) to service_role;
grant execute on function public.callback_during_call(bigint, timestamptz, timestamptz) to service_role;
grant execute on function public.admin_add_contact(bigint, jsonb, text, bigint, timestamptz, text) to service_role;
