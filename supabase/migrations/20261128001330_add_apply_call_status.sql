-- Provider status callbacks applied to calls (the call lifecycle is drawn in
-- 20261128001300_add_call_lifecycle_functions.sql).

-- apply_call_status(): a provider status callback. Finds the call by our id (carried in the
-- callback URL) or by the provider's call id, ignores stale or duplicate news (a call never moves
-- backwards), frees the slot on a final status and settles the contact. Returns 'applied',
-- 'ignored' (duplicate / out of order), 'not_found', 'mismatch' (our id and the provider's id
-- disagree) or 'wrong_account'.
-- p_account_sid: the provider account the callback comes from (its AccountSid, which the signature
-- was verified for; null: the main account, the functions' TWILIO_ACCOUNT_SID). It must be the
-- call's own account (its campaign's provider account's account_sid, null for the main account):
-- otherwise 'wrong_account' and nothing changes, so the holder of one subaccount's token cannot
-- move another account's calls.
create function public.apply_call_status(
  p_call_id bigint,
  p_provider text,
  p_provider_call_id text,
  p_status public.call_status,
  p_duration_seconds integer default null,
  p_error_code text default null,
  p_now timestamptz default now(),
  p_answered_by text default null,
  p_account_sid text default null
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_call public.calls;
  v_answered_by text := left(nullif(btrim(p_answered_by), ''), 64);
  v_machine boolean;
begin
  if p_status is null or p_status = 'queued' or p_status = 'unknown' then
    raise exception 'a status callback cannot set status %', coalesce(p_status::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  if p_call_id is not null then
    select * into v_call from public.calls where id = p_call_id for update;
  else
    select * into v_call from public.calls
     where provider = p_provider and provider_call_id = p_provider_call_id
       for update;
  end if;
  if not found then
    return 'not_found';
  end if;
  if (select a.account_sid
        from public.campaigns c
        join public.provider_accounts a on a.id = c.provider_account
       where c.id = v_call.campaign_id) is distinct from p_account_sid then
    return 'wrong_account';
  end if;
  -- Found by our id: the news must come from the platform the call went to (a Vapi secret cannot
  -- move a Twilio call).
  if v_call.provider is distinct from p_provider then
    return 'wrong_account';
  end if;
  if v_call.provider_call_id is not null and p_provider_call_id is not null
     and v_call.provider_call_id <> p_provider_call_id then
    return 'mismatch';
  end if;
  if v_call.released_at is not null
     or public._is_final_call_status(v_call.status)
     or public._call_status_rank(p_status) <= public._call_status_rank(v_call.status) then
    if v_call.provider_call_id is null and p_provider_call_id is not null and v_call.released_at is null then
      update public.calls set provider_call_id = p_provider_call_id, updated_at = p_now where id = v_call.id;
    end if;
    return 'ignored';
  end if;

  if v_call.status = 'queued' then
    -- The provider knows this call although we put it back in the queue (a 429 that was not one):
    -- it was dialled, so it counts as an attempt and is never dialled again.
    update public.contacts set attempts = attempts + 1, updated_at = p_now where id = v_call.contact_id;
  end if;

  update public.calls
     set status = p_status,
         provider_call_id = coalesce(provider_call_id, p_provider_call_id),
         dialed_at = coalesce(dialed_at, p_now),
         ringing_at = case when p_status = 'ringing' then coalesce(ringing_at, p_now) else ringing_at end,
         answered_at = case when p_status = 'in_progress' then coalesce(answered_at, p_now) else answered_at end,
         ended_at = case when public._is_final_call_status(p_status) then p_now else null end,
         duration_seconds = coalesce(p_duration_seconds, duration_seconds),
         answered_by = coalesce(v_answered_by, answered_by),
         error_code = coalesce(p_error_code, error_code),
         error = case when v_call.status = 'unknown' and not public._is_final_call_status(p_status) then null else error end,
         updated_at = p_now
   where id = v_call.id;

  if public._is_final_call_status(p_status) then
    -- A completed call answered by a machine reached no person: with the campaign's 'retry' policy
    -- the contact is settled like a no-answer (tried again while attempts remain). Any other
    -- AnsweredBy (human, unknown, a value we do not know) counts as a person reached.
    v_machine := p_status = 'completed'
      and coalesce(v_answered_by, v_call.answered_by) in
          ('machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax')
      and exists (select 1 from public.campaigns c where c.id = v_call.campaign_id and c.machine_answer_policy = 'retry');
    if v_machine then
      perform public._settle_contact(v_call.contact_id, 'no_answer', false,
        'answered by a machine (' || coalesce(v_answered_by, v_call.answered_by) || '): tried again later', p_now, true);
    else
      perform public._settle_contact(v_call.contact_id, p_status, false,
        case when p_status = 'completed' then null else 'call ended ' || p_status::text end, p_now);
    end if;
  end if;
  return 'applied';
end;
$$;

comment on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) is
  'Applies a provider status callback to a call (found by our id, else by provider call id). Idempotent and order-safe: duplicates and stale statuses are ignored; a final status frees the slot and schedules the contact''s next attempt or ends it. p_answered_by (the provider''s AnsweredBy) is stored on the call; a completed call answered by a machine is retried like a no-answer when the campaign''s machine_answer_policy is retry. p_account_sid (the callback''s AccountSid; null: the main account) must be the call''s own account (its campaign''s provider_accounts.account_sid), and p_provider the call''s provider, else nothing changes. Returns applied / ignored / not_found / mismatch / wrong_account.';

revoke all on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) from public, anon, authenticated;
grant execute on function public.apply_call_status(bigint, text, text, public.call_status, integer, text, timestamptz, text, text) to service_role;
