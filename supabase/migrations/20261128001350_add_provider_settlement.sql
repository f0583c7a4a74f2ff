-- Settling calls in doubt at the provider. A call stays dialing or unknown when we never learnt what
-- the provider did with it: the create-call answer was lost (a timeout, a 500, a crash of the
-- function), or its callbacks never came; it stays ringing or in progress when its final callback
-- was lost. The reaper (expire_stuck_calls) fails such a
-- call after stuck_call_timeout and the contact is called again, even when the provider did place the
-- first call and the person answered it. So, well before that, each tick asks the provider:
--
--   calls_to_check_at_provider()  hands out the calls to ask about (in dialing or unknown for
--                                 provider_check_after, or ringing / in progress with no news for
--                                 as long; not asked about within it), marking each
--                                 asked (provider_checked_at) so two ticks do not ask twice;
--   settle_call_from_provider()   applies the provider's answer to one call:
--     found      -> the provider's status, as a status callback would (apply_call_status: adopts the
--                   provider call id of a call that had none; a final status frees the slot and
--                   settles the contact with the real outcome);
--     not found  -> for a call without a provider call id (its create-call answer never came): the
--                   provider has no call to this number since it was dialled, so nobody was dialled:
--                   the call fails now ('not placed') and the contact is retried if attempts remain.
--                   A call whose provider call id we hold is never settled by a missing record (the
--                   provider gave us that id): the reaper keeps it.
--   A failed lookup changes nothing; the call is asked about again after provider_check_after.
--
-- Only calls without a provider call id that are older than twice the create-call timeout are
-- looked up by number: a create request still in flight cannot be mistaken for a missing call.

create function public.calls_to_check_at_provider(p_now timestamptz default now(), p_limit integer default 20)
returns table (
  call_id bigint,
  provider text,
  provider_call_id text,
  to_phone text,
  caller_id text,
  account_sid text,
  dialed_at timestamptz,
  status public.call_status
)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_settings public.scheduler_settings;
begin
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception 'p_limit must be between 1 and 1000, got %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  v_settings := public._settings();
  return query
  with due as (
    select cl.id
      from public.calls cl
     where ((cl.status in ('dialing', 'unknown')
             and cl.dialed_at < p_now - case when cl.provider_call_id is null
                                             then greatest(v_settings.provider_check_after,
                                                           2 * v_settings.provider_request_timeout_ms * interval '1 millisecond')
                                             else v_settings.provider_check_after end)
            -- Ringing or in progress with no news since: its final callback may be lost.
            or (cl.status in ('ringing', 'in_progress') and cl.provider_call_id is not null
                and coalesce(cl.answered_at, cl.ringing_at, cl.dialed_at) < p_now - v_settings.provider_check_after))
       and (cl.provider_checked_at is null or cl.provider_checked_at <= p_now - v_settings.provider_check_after)
     order by cl.dialed_at, cl.id
     limit p_limit
       for update skip locked
  ),
  marked as (
    update public.calls cl
       set provider_checked_at = p_now
      from due d
     where cl.id = d.id
    returning cl.id, cl.provider, cl.provider_call_id, cl.to_phone, cl.campaign_id, cl.dialed_at, cl.status
  )
  select m.id, m.provider, m.provider_call_id, m.to_phone, c.caller_id,
         (select a.account_sid from public.provider_accounts a where a.id = c.provider_account),
         m.dialed_at, m.status
    from marked m
    join public.campaigns c on c.id = m.campaign_id
   order by m.dialed_at, m.id;
end;
$$;

comment on function public.calls_to_check_at_provider(timestamptz, integer) is
  'Hands out up to p_limit calls to look up at the provider (FOR UPDATE SKIP LOCKED): in dialing or unknown for scheduler_settings.provider_check_after (a call without a provider call id: also for twice provider_request_timeout_ms), or ringing / in progress with no news for provider_check_after, and not looked up within provider_check_after; marks each looked up (provider_checked_at = p_now). Returns what the lookup needs: the provider call id when known, else the number, caller id and account to list the provider''s calls by.';

create function public.settle_call_from_provider(
  p_call_id bigint,
  p_provider text,
  p_found boolean,
  p_provider_call_id text default null,
  p_status public.call_status default null,
  p_duration_seconds integer default null,
  p_answered_by text default null,
  p_now timestamptz default now()
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_call public.calls;
begin
  if p_found is null then
    raise exception 'p_found must be true or false' using errcode = 'invalid_parameter_value';
  end if;
  if p_found and (p_provider_call_id is null or p_status is null) then
    raise exception 'a call found at the provider needs its provider call id and status'
      using errcode = 'invalid_parameter_value';
  end if;
  select * into v_call from public.calls where id = p_call_id for update;
  if not found then
    return 'not_found';
  end if;
  if v_call.provider <> p_provider then
    raise exception 'call % belongs to provider %, not %', p_call_id, v_call.provider, p_provider
      using errcode = 'invalid_parameter_value';
  end if;
  if v_call.status not in ('dialing', 'unknown', 'ringing', 'in_progress') then
    return 'ignored'; -- settled meanwhile (a late callback, the reaper)
  end if;

  if p_found then
    if v_call.provider_call_id is null
       and exists (select 1 from public.calls cl
                    where cl.provider = p_provider and cl.provider_call_id = p_provider_call_id and cl.id <> v_call.id) then
      return 'conflict'; -- that provider call is another call of ours: leave this one to the reaper
    end if;
    if p_status in ('queued', 'unknown') then
      -- Known to the provider but not started: keep its id; its callbacks (or the next look) settle it.
      update public.calls
         set provider_call_id = coalesce(provider_call_id, p_provider_call_id), updated_at = p_now
       where id = v_call.id and (provider_call_id is null or provider_call_id = p_provider_call_id);
      return 'ignored';
    end if;
    -- As the status callback would have said it, for the call's own account.
    return public.apply_call_status(
      v_call.id, p_provider, p_provider_call_id, p_status, p_duration_seconds, null, p_now, p_answered_by,
      (select a.account_sid
         from public.campaigns c
         join public.provider_accounts a on a.id = c.provider_account
        where c.id = v_call.campaign_id));
  end if;

  if v_call.provider_call_id is not null then
    return 'kept'; -- the provider gave us this id: a missing record is no proof; the reaper decides
  end if;
  update public.calls
     set status = 'failed', ended_at = p_now, updated_at = p_now,
         error = 'not placed: the provider has no call to this number since it was dialled (looked up at '
                 || pg_catalog.to_char(p_now at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC)'
   where id = v_call.id;
  perform public._settle_contact(v_call.contact_id, 'failed', false, 'call not placed at the provider', p_now);
  return 'not_placed';
end;
$$;

comment on function public.settle_call_from_provider(bigint, text, boolean, text, public.call_status, integer, text, timestamptz) is
  'Applies what the provider says about an active call that was dialled (dialing, unknown, ringing, in progress). Found (p_provider_call_id, p_status): as a status callback from the call''s own account would (apply_call_status: adopts the provider call id, a final status frees the slot and settles the contact); queued or unknown there: keeps the id only. Not found: a call without a provider call id fails now as not placed (the contact is retried if attempts remain); one with an id is kept for the reaper. Returns applied / ignored / mismatch / conflict / kept / not_placed / not_found.';

revoke all on function public.calls_to_check_at_provider(timestamptz, integer) from public, anon, authenticated;
revoke all on function public.settle_call_from_provider(bigint, text, boolean, text, public.call_status, integer, text, timestamptz)
  from public, anon, authenticated;
grant execute on function public.calls_to_check_at_provider(timestamptz, integer) to service_role;
grant execute on function public.settle_call_from_provider(bigint, text, boolean, text, public.call_status, integer, text, timestamptz)
  to service_role;
