-- call_context(): what the call flow (the TwiML or AI agent answering a call) may know about the
-- call it is handling: the contact's fields and metadata, the campaign's name and purpose, which
-- attempt this is and why the contact is called. call-status serves it at the call's signed
-- context URL (supabase/functions/_shared/call-context.ts); the URL names one call, so its holder
-- learns about that contact and nothing else.
--
-- A call is readable while it is under way and for p_grace after it ended (the flow may still be
-- finishing: a summary, a transfer); after that the contact's data is no longer handed out on the
-- strength of an old URL ('ended'). p_account_sid (null: the main account) must be the call's own
-- account when the caller proved an account rather than a signature (a TwiML App looking the call
-- up by its CallSid), like apply_call_status().
create function public.call_context(
  p_call_id bigint,
  p_now timestamptz default now(),
  p_grace interval default interval '1 hour'
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_call public.calls;
  v_contact public.contacts;
  v_campaign public.campaigns;
  v_previous jsonb;
begin
  select * into v_call from public.calls cl where cl.id = p_call_id;
  if not found then
    return jsonb_build_object('result', 'no_such_call', 'call_id', p_call_id);
  end if;
  if v_call.ended_at is not null and v_call.ended_at < p_now - p_grace then
    return jsonb_build_object('result', 'ended', 'call_id', p_call_id, 'ended_at', v_call.ended_at);
  end if;
  select * into v_contact from public.contacts c where c.id = v_call.contact_id;
  select * into v_campaign from public.campaigns c where c.id = v_call.campaign_id;
  -- The attempt before this one, if any: why the contact is called again.
  select jsonb_build_object('call_id', p.id, 'attempt', p.attempt, 'status', p.status,
                            'answered_by', p.answered_by, 'ended_at', p.ended_at)
    into v_previous
    from public.calls p
   where p.contact_id = v_call.contact_id and p.attempt < v_call.attempt and p.released_at is null
   order by p.attempt desc
   limit 1;
  return jsonb_build_object(
    'result', 'ok',
    'call', jsonb_build_object(
      'id', v_call.id,
      'attempt', v_call.attempt,
      'max_attempts', v_campaign.max_attempts,
      'status', v_call.status,
      'reason', case when v_call.attempt = 1 then 'first_attempt' else 'retry' end,
      'previous_attempt', v_previous,
      'queued_at', v_call.queued_at,
      'dialed_at', v_call.dialed_at,
      'answered_at', v_call.answered_at,
      'ended_at', v_call.ended_at
    ),
    'contact', jsonb_build_object(
      'id', v_contact.id,
      'name', v_contact.name,
      'phone', v_call.to_phone,
      'time_zone', v_contact.time_zone,
      'number_time_zones', to_jsonb(public.phone_time_zones(v_call.to_phone)),
      'metadata', v_contact.metadata
    ),
    'campaign', jsonb_build_object(
      'id', v_campaign.id,
      'name', v_campaign.name,
      'purpose', v_campaign.purpose
    )
  );
end;
$$;

comment on function public.call_context(bigint, timestamptz, interval) is
  'What the call flow may know about call p_call_id: {result: ok, call: {id, attempt, max_attempts, status, reason: first_attempt | retry, previous_attempt, queued_at, dialed_at, answered_at, ended_at}, contact: {id, name, phone, time_zone, number_time_zones, metadata}, campaign: {id, name, purpose}}; {result: no_such_call} or {result: ended} once the call ended more than p_grace before p_now. Reads only.';

-- call_id_by_provider_sid(): our call id for the provider's call SID, when the call belongs to the
-- account p_account_sid (null: the main account): a TwiML App hears only the CallSid.
create function public.call_id_by_provider_sid(p_provider_call_id text, p_account_sid text default null)
returns bigint
language sql
stable
set search_path = ''
as $$
  select cl.id
    from public.calls cl
    join public.campaigns c on c.id = cl.campaign_id
    join public.provider_accounts a on a.id = c.provider_account
   where cl.provider_call_id = p_provider_call_id
     and a.account_sid is not distinct from p_account_sid
   order by cl.id desc
   limit 1
$$;

comment on function public.call_id_by_provider_sid(text, text) is
  'Our call id for provider call SID p_provider_call_id, when the call''s campaign dials through the account p_account_sid (its provider_accounts.account_sid; null: the main account); null otherwise.';

revoke all on function public.call_context(bigint, timestamptz, interval) from public, anon, authenticated;
revoke all on function public.call_id_by_provider_sid(text, text) from public, anon, authenticated;
grant execute on function public.call_context(bigint, timestamptz, interval) to service_role;
grant execute on function public.call_id_by_provider_sid(text, text) to service_role;
