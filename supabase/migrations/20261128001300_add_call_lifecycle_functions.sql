-- The life of a call after launch_due_calls() reserved it:
--
--   queued --claim_queued_calls()--> dialing --record_dispatch_results()--> dialing (accepted) | unknown | failed
--      ^                               |                                   (retryable: back to queued, not an attempt)
--      +-------------------------------+
--   dialing/unknown --apply_call_status() (provider callback)--> ringing --> in_progress --> final
--   dialing/unknown/ringing/in_progress --expire_stuck_calls() (reaper)--> failed
--   queued --claim/release_stale_queued_calls()--> canceled + released_at (not an attempt)
--
-- A call never moves backwards (see _call_status_rank), and only claim_queued_calls() moves a call
-- to dialing, once: a reserved call is sent to the provider at most once.

create function public._call_status_rank(p_status public.call_status)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case p_status
    when 'queued' then 0
    when 'unknown' then 1   -- any news from the provider beats "we do not know"
    when 'dialing' then 2
    when 'ringing' then 3
    when 'in_progress' then 4
    else 5                  -- completed, busy, no_answer, failed, canceled
  end
$$;

create function public._is_final_call_status(p_status public.call_status)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$ select p_status in ('completed', 'busy', 'no_answer', 'failed', 'canceled') $$;

-- After a call reached a final status: end the contact (done / invalid / do_not_call when its number
-- was listed meanwhile / exhausted) or schedule its next attempt by the campaign's retry rule for
-- the call's outcome (busy, no answer, machine (p_machine: answered by a machine under the 'retry'
-- policy), failed: canceled counts as failed): tried again only while attempts remain and the rule
-- says so, at the rule's delay after p_now (the call's end). A callback scheduled while the call
-- was reserved or in progress (callback_at after the call was queued) wins over all of this but
-- an invalid number and the do-not-call list: the contact waits for it. A callback the call was
-- placed for (callback_at at or before its queued_at) is cleared. Idempotent: only a contact still
-- in_progress with no other active call changes.
create function public._settle_contact(
  p_contact_id bigint,
  p_call_status public.call_status,
  p_invalid_number boolean,
  p_error text,
  p_now timestamptz,
  p_machine boolean default false
)
returns void
language sql
set search_path = ''
as $$
  update public.contacts ct
     set status = case
                    when p_invalid_number then 'invalid'::public.contact_status
                    when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                     and (p_call_status <> 'completed' or ct.callback_at > lc.queued_at)
                      then 'do_not_call'::public.contact_status
                    when ct.callback_at > lc.queued_at then 'pending'::public.contact_status
                    when p_call_status = 'completed' and not p_machine then 'done'::public.contact_status
                    when ct.attempts >= c.max_attempts or not r.retry then 'exhausted'::public.contact_status
                    else 'pending'::public.contact_status
                  end,
         next_attempt_at = case
                             when p_invalid_number then ct.next_attempt_at
                             when ct.callback_at > lc.queued_at then ct.callback_at
                             when (p_call_status = 'completed' and not p_machine)
                               or ct.attempts >= c.max_attempts or not r.retry
                               then ct.next_attempt_at
                             else p_now + r.delay
                           end,
         callback_at = case when ct.callback_at > lc.queued_at and not p_invalid_number then ct.callback_at end,
         last_call_status = p_call_status,
         last_error = case
                        when p_call_status <> 'completed' and not p_invalid_number
                         and exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                          then 'number is on the do-not-call list'
                        when not p_invalid_number and not (p_call_status = 'completed' and not p_machine)
                         and not r.retry and ct.attempts < c.max_attempts
                         and not coalesce(ct.callback_at > lc.queued_at, false)
                          then coalesce(p_error || ': ', '') || 'not retried (the campaign''s rule for ' || r.kind || ')'
                        else p_error
                      end,
         updated_at = p_now
    from public.campaigns c
   cross join lateral (
     select k.kind,
            case k.kind when 'busy' then c.retry_busy when 'no answer' then c.retry_no_answer
                        when 'machine' then true else c.retry_failed end as retry,
            case k.kind when 'busy' then c.retry_busy_delay when 'no answer' then c.retry_no_answer_delay
                        when 'machine' then c.retry_machine_delay else c.retry_failed_delay end as delay
       from (select case when p_machine then 'machine'
                         when p_call_status = 'busy' then 'busy'
                         when p_call_status = 'no_answer' then 'no answer'
                         else 'failed' end as kind) k
   ) r
   cross join lateral (
     -- When the contact's latest call was reserved: a callback set after it is still to come.
     select max(cl.queued_at) as queued_at from public.calls cl where cl.contact_id = p_contact_id
   ) lc
   where ct.id = p_contact_id
     and c.id = ct.campaign_id
     and ct.status = 'in_progress'
     and not exists (
       select 1 from public.calls cl
        where cl.contact_id = ct.id
          and cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress'))
$$;

revoke all on function public._call_status_rank(public.call_status) from public, anon, authenticated;
revoke all on function public._is_final_call_status(public.call_status) from public, anon, authenticated;
revoke all on function public._settle_contact(bigint, public.call_status, boolean, text, timestamptz, boolean) from public, anon, authenticated;
grant execute on function public._call_status_rank(public.call_status) to service_role;
grant execute on function public._is_final_call_status(public.call_status) to service_role;
grant execute on function public._settle_contact(bigint, public.call_status, boolean, text, timestamptz, boolean) to service_role;
