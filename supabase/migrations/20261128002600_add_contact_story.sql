-- One person's story: everything the scheduler knows about one phone number. A person is a number:
-- the same number may be a contact of several campaigns, and the do-not-call list and the
-- one-call-at-a-time rule are about the number. contact_story() returns, for a number (or for the
-- number of one contact id), its do-not-call entry and every contact with that number, newest
-- first, each with its campaign and every attempt: when it was reserved, dialled, accepted,
-- ringing, answered and ended; its status and who answered; its duration; the provider's error
-- and call id; and what allowed it (dial_evidence). A contact waiting to be called says why not now
-- (contact_wait_details(): the first reason at p_now) and until when, naming the zone and where it
-- came from, e.g. 'quiet hours in America/Los_Angeles (from the number's prefix +1415) until 08:00'.

create function public.contact_story(
  p_phone text default null,
  p_contact_id bigint default null,
  p_now timestamptz default now()
)
returns jsonb
language sql
stable
set search_path = ''
as $$
  with person as (
    select coalesce(p_phone, (select ct.phone from public.contacts ct where ct.id = p_contact_id)) as phone
  ),
  waits as (
    -- Why each of the number's waiting contacts is not called at p_now, and until when.
    select w.contact_id, w.reason, w.quiet_in, w.quiet_zone, w.zone,
           case w.reason
             when 'window closed' then public.next_calling_time(p_now, w.zone, c.window_start, c.window_end,
                                                                c.window_days, w.phone, w.rule_zones, c.purpose)
             when 'quiet hours' then public.next_calling_time(p_now, w.zone, c.window_start, c.window_end,
                                                              c.window_days, w.phone, w.rule_zones, c.purpose)
             when 'retry later' then w.next_attempt_at
             when 'scheduled callback' then w.next_attempt_at
             when 'campaign not started' then c.starts_at
             when 'no consent' then case when w.consent_at > p_now then w.consent_at end
           end as until
      from person p
      cross join lateral public.contact_wait_details(p_now, p.phone) as w
      join public.campaigns c on c.id = w.campaign_id
  )
  select case when p.phone is null then null else pg_catalog.jsonb_build_object(
    'phone', p.phone,
    'do_not_call', (select pg_catalog.jsonb_build_object('reason', d.reason, 'added_at', d.added_at, 'added_by', d.added_by)
                      from public.do_not_call_numbers d where d.phone = p.phone),
    'contacts', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'id', ct.id::text,
               'campaign_id', c.id::text,
               'campaign_name', c.name,
               'campaign_status', c.status,
               'name', ct.name,
               'status', ct.status,
               'attempts', ct.attempts,
               'max_attempts', c.max_attempts,
               'next_attempt_at', ct.next_attempt_at,
               'priority', ct.priority,
               'callback_at', ct.callback_at,
               'last_call_status', ct.last_call_status,
               'last_error', ct.last_error,
               'time_zone', ct.time_zone,
               'created_at', ct.created_at,
               'why_not_now', (select pg_catalog.jsonb_build_object(
                                        'reason', w.reason,
                                        'detail', case
                                                    when w.reason = 'quiet hours' then
                                                      'quiet hours in ' || w.quiet_in ||
                                                      coalesce(' until ' || pg_catalog.to_char(pg_catalog.timezone(w.quiet_zone, w.until), 'HH24:MI'), '')
                                                    when w.reason = 'scheduled callback' then
                                                      'a callback is scheduled for ' ||
                                                      pg_catalog.to_char(pg_catalog.timezone(w.zone, w.until), 'YYYY-MM-DD HH24:MI') ||
                                                      ' ' || w.zone
                                                    when w.reason = 'window closed' then
                                                      'the campaign''s window is closed in ' || w.zone ||
                                                      coalesce(' until ' || pg_catalog.to_char(pg_catalog.timezone(w.zone, w.until), 'HH24:MI'), '')
                                                    else w.reason
                                                  end,
                                        'until', w.until)
                                 from waits w where w.contact_id = ct.id),
               'calls', coalesce((
                 select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'id', cl.id::text,
                          'attempt', cl.attempt,
                          'status', cl.status,
                          'queued_at', cl.queued_at,
                          'dialed_at', cl.dialed_at,
                          'provider_accepted_at', cl.provider_accepted_at,
                          'ringing_at', cl.ringing_at,
                          'answered_at', cl.answered_at,
                          'ended_at', cl.ended_at,
                          'released_at', cl.released_at,
                          'duration_seconds', cl.duration_seconds,
                          'answered_by', cl.answered_by,
                          'error', cl.error,
                          'error_code', cl.error_code,
                          'provider', cl.provider,
                          'provider_call_id', cl.provider_call_id,
                          'evidence', cl.dial_evidence) order by cl.id)
                   from public.calls cl where cl.contact_id = ct.id), '[]'::jsonb))
             order by ct.id desc)
        from public.contacts ct
        join public.campaigns c on c.id = ct.campaign_id
       where ct.phone = p.phone), '[]'::jsonb)) end
    from person p
$$;

comment on function public.contact_story(text, bigint, timestamptz) is
  'One person (a phone number: p_phone, or the number of contact p_contact_id): its do-not-call entry and every contact with that number (newest first) with its campaign, priority, scheduled callback (callback_at), why it is not called at p_now (a waiting contact: reason, detail naming the zone and its source, until), and every attempt (reserved, dialled, accepted, ringing, answered, ended; status, answered_by, duration, provider error and call id, dial_evidence). Null when p_contact_id names no contact.';

revoke all on function public.contact_story(text, bigint, timestamptz) from public, anon, authenticated;
grant execute on function public.contact_story(text, bigint, timestamptz) to service_role;
