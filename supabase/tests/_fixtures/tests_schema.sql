-- The `tests` schema: SQL fixtures shared by every suite (pgTAP, vitest, the benchmark). Not a
-- migration: scripts/test.ts installs it once after the migrations (and the benchmark on its
-- throwaway cluster); supabase/tests/_helpers.psql installs it inside a pgTAP file's transaction
-- when the database lacks it. Nothing in the product calls it.
--
--   tests.wednesday_noon()              the pgTAP suite's fixed clock
--   tests.create_campaign(...)          a campaign that can dial (caller id, TwiML)
--   tests.add_contacts(...), add_contact(...)
--   tests.invariant_violations(...)     DESIGN.md invariants on the committed state, one row each
--   and small steps: launch, dial, end_active_calls, answer, record_batch, active_calls, last_call_of

create schema tests;
create sequence tests.phone_numbers;

-- The fixed clock of the suite: Wednesday 2 December 2026, 12:00 UTC. Every function under test
-- gets its time from p_now, so nothing depends on when the suite runs.
create function tests.wednesday_noon()
returns timestamptz
language sql
immutable
parallel safe
as $$ select timestamptz '2026-12-02 12:00:00+00' $$;

-- A campaign with the product's defaults (window 09:00-20:00 Monday to Friday, 3 attempts, retry
-- after 1 hour doubling each time) except that it has a caller id and TwiML, so that it can dial.
create function tests.create_campaign(
  name text default 'campaign',
  cap integer default 5,
  status public.campaign_status default 'QUEUED',
  caller_id text default '+15559990000',
  time_zone text default 'UTC',
  window_start time default '09:00',
  window_end time default '20:00',
  window_days smallint[] default '{1,2,3,4,5}',
  max_attempts integer default 3,
  retry_delay interval default '1 hour',
  retry_backoff numeric default 2,
  priority integer default 0,
  last_served_at timestamptz default null,
  provider_settings jsonb default '{"twiml": "<Response><Say>Hello from the test suite</Say></Response>"}'
)
returns bigint
language sql
as $$
  insert into public.campaigns (name, max_concurrent_calls, status, caller_id, time_zone, window_start,
                                window_end, window_days, max_attempts, retry_delay, retry_backoff,
                                priority, last_served_at, provider_settings)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
  returning id
$$;

-- how_many contacts with fresh phone numbers (+1555000NNNN), due since Tuesday. Returns their ids.
create function tests.add_contacts(
  campaign_id bigint,
  how_many integer default 1,
  time_zone text default null,
  next_attempt_at timestamptz default timestamptz '2026-12-01 00:00:00+00'
)
returns setof bigint
language sql
as $$
  insert into public.contacts (campaign_id, phone, time_zone, next_attempt_at)
  select $1, '+1555' || lpad(nextval('tests.phone_numbers')::text, 7, '0'), $3, $4
    from generate_series(1, $2)
  returning id
$$;

-- One contact with a given phone number. Returns its id.
create function tests.add_contact(
  campaign_id bigint,
  phone text,
  time_zone text default null,
  next_attempt_at timestamptz default timestamptz '2026-12-01 00:00:00+00'
)
returns bigint
language sql
as $$
  insert into public.contacts (campaign_id, phone, time_zone, next_attempt_at)
  values ($1, $2, $3, $4)
  returning id
$$;

-- Active calls (holding a slot) of one campaign, or of all campaigns when campaign_id is null.
create function tests.active_calls(campaign_id bigint default null)
returns integer
language sql
stable
as $$
  select count(*)::integer
    from public.calls cl
   where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
     and ($1 is null or cl.campaign_id = $1)
$$;

-- The newest call of a contact.
create function tests.last_call_of(contact_id bigint)
returns bigint
language sql
stable
as $$ select max(cl.id) from public.calls cl where cl.contact_id = $1 $$;

-- Calls reserved by launch_due_calls() in total (sum of the reserved column).
create function tests.launch(p_now timestamptz, p_max_campaigns integer default null)
returns integer
language sql
as $$ select coalesce(sum(l.reserved), 0)::integer from public.launch_due_calls(p_now, p_max_campaigns) l $$;

-- Dispatches every queued call (claim_queued_calls) and ends each active call of the campaign with
-- a provider callback carrying final_status. Returns how many calls it ended.
create function tests.end_active_calls(
  campaign_id bigint,
  final_status public.call_status,
  p_now timestamptz
)
returns integer
language plpgsql
as $$
declare
  v_call bigint;
  v_count integer := 0;
begin
  perform public.claim_queued_calls(100000, null, p_now);
  for v_call in
    select cl.id from public.calls cl
     where cl.campaign_id = end_active_calls.campaign_id
       and cl.status in ('dialing', 'unknown', 'ringing', 'in_progress')
     order by cl.id
  loop
    perform public.apply_call_status(v_call, 'twilio', null, final_status, null, null, p_now);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;

-- Reserves and dials one call for the contact (whatever else is due), returning the call id.
create function tests.dial(contact_id bigint, p_now timestamptz)
returns bigint
language plpgsql
as $$
begin
  perform public.launch_due_calls(p_now);
  perform public.claim_queued_calls(100000, null, p_now);
  return tests.last_call_of(contact_id);
end;
$$;

-- One provider answer as record_dispatch_results() takes it (null arguments are left out).
create function tests.answer(
  call_id bigint,
  outcome text,
  provider_call_id text default null,
  status public.call_status default null,
  reason text default null,
  error_code text default null,
  retry_at timestamptz default null,
  invalid_number boolean default null,
  at timestamptz default null,
  breaker_success boolean default null,
  breaker_reason text default null
)
returns jsonb
language sql
immutable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'call_id', $1, 'outcome', $2, 'provider_call_id', $3, 'status', $4, 'reason', $5, 'error_code', $6,
    'retry_at', $7, 'invalid_number', $8, 'at', $9, 'breaker_success', $10, 'breaker_reason', $11))
$$;

-- Records a batch of answers (tests.answer) for provider 'twilio' in one record_dispatch_results() call.
create function tests.record_batch(p_now timestamptz, variadic p_answers jsonb[])
returns table (call_id bigint, status public.call_status, breaker_state text)
language sql
as $$ select * from public.record_dispatch_results('twilio', to_jsonb(p_answers), p_now) $$;

-- DESIGN.md invariants 1, 2, 3 (attempts) and 5 on the current state: one row per violation,
-- none when they all hold. The one checker behind the vitest suites' and the benchmark's.
--   p_now: also check that every call reserved at p_now (queued_at = p_now, still queued) is
--          inside its contact's calling window then.
--   p_allow_running: when false, a run still 'running' is a violation (between ticks).
create function tests.invariant_violations(
  p_now timestamptz default null,
  p_allow_running boolean default true
)
returns table (invariant text, detail text)
language sql
stable
as $$
  with active as (
    select cl.* from public.calls cl where cl.status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')
  )
  select v.invariant, v.detail from (
    select 'inv1: campaign over its cap' as invariant,
           format('campaign %s holds %s active calls, over its cap of %s', c.id, a.n, c.max_concurrent_calls) as detail
      from public.campaigns c
      join (select campaign_id, count(*) as n from active group by campaign_id) a on a.campaign_id = c.id
     where a.n > c.max_concurrent_calls
    union all
    select 'inv1: over the global cap',
           format('the system holds %s active calls, over the global cap of %s', count(*), max(s.global_max_concurrent_calls))
      from active, public.scheduler_settings s
    having count(*) > max(s.global_max_concurrent_calls)
    union all
    select 'inv2: two active calls for one contact', format('contact %s has %s active calls', a.contact_id, count(*))
      from active a group by a.contact_id having count(*) > 1
    union all
    select 'inv2: in_progress exactly when a call is active',
           format('contact %s is %s with %s active call(s)', ct.id, ct.status, coalesce(a.n, 0))
      from public.contacts ct
      left join (select contact_id, count(*) as n from active group by contact_id) a on a.contact_id = ct.id
     where (ct.status = 'in_progress') <> (coalesce(a.n, 0) > 0)
    union all
    select 'inv3: attempts within max_attempts',
           format('contact %s has %s attempts, max_attempts %s', ct.id, ct.attempts, c.max_attempts)
      from public.contacts ct join public.campaigns c on c.id = ct.campaign_id
     where ct.attempts > c.max_attempts or ct.attempts < 0
    union all
    select 'inv3: dialled at most max_attempts times',
           format('contact %s was dialled %s times, over max_attempts %s', cl.contact_id, count(*), max(c.max_attempts))
      from public.calls cl join public.campaigns c on c.id = cl.campaign_id
     where cl.dialed_at is not null
     group by cl.contact_id
    having count(*) > max(c.max_attempts)
    union all
    select 'inv3: no active call beyond max_attempts',
           format('call %s is attempt %s, over max_attempts %s', a.id, a.attempt, c.max_attempts)
      from active a join public.campaigns c on c.id = a.campaign_id
     where a.attempt > c.max_attempts
    union all
    select 'inv3: nothing dialled after completion',
           format('call %s dialled at %s, campaign %s completed at %s', cl.id, cl.dialed_at, c.id, c.completed_at)
      from public.calls cl join public.campaigns c on c.id = cl.campaign_id
     where c.status = 'COMPLETED' and cl.dialed_at > c.completed_at
    union all
    select 'inv3: a completed campaign holds no active call',
           format('campaign %s is COMPLETED with %s active calls', c.id, count(*))
      from public.campaigns c join active a on a.campaign_id = c.id
     where c.status = 'COMPLETED' group by c.id
    union all
    select 'inv3: reserved inside the calling window',
           format('call %s was reserved at %s outside the calling window of contact %s', cl.id, cl.queued_at, ct.id)
      from public.calls cl
      join public.contacts ct on ct.id = cl.contact_id
      join public.campaigns c on c.id = cl.campaign_id
     where p_now is not null and cl.status = 'queued' and cl.queued_at = p_now
       and not public.is_within_calling_window(p_now, coalesce(ct.time_zone, c.time_zone), c.window_start,
                                               c.window_end, c.window_days)
    union all
    select 'inv5: no run left running', format('run %s (%s) is still running', r.id, r.trigger)
      from public.scheduler_runs r
     where not p_allow_running and r.status = 'running'
  ) v
  order by v.invariant, v.detail
$$;
