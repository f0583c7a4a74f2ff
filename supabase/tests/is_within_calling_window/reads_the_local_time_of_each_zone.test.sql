-- The same instant is read in each zone, weekday included: Europe and Asia disagree on the hour and
-- sometimes on the day. Window 09:00-17:00 Monday to Friday unless stated.
begin;
set search_path = public, extensions;
select plan(10);

create function pg_temp.weekdays(p_now timestamptz, p_zone text) returns boolean language sql as $$
  select public.is_within_calling_window(p_now, p_zone, '09:00', '17:00', '{1,2,3,4,5}')
$$;

-- Wednesday 2 December 2026, 02:00 UTC.
select ok(pg_temp.weekdays('2026-12-02 02:00+00', 'Asia/Tokyo'), '02:00 UTC: 11:00 in Tokyo, open');
select ok(not pg_temp.weekdays('2026-12-02 02:00+00', 'Asia/Kolkata'), '02:00 UTC: 07:30 in Kolkata, closed');
select ok(not pg_temp.weekdays('2026-12-02 02:00+00', 'Europe/Berlin'), '02:00 UTC: 03:00 in Berlin, closed');
-- 08:00 UTC.
select ok(not pg_temp.weekdays('2026-12-02 08:00+00', 'Asia/Tokyo'), '08:00 UTC: 17:00 in Tokyo, closed');
select ok(pg_temp.weekdays('2026-12-02 08:00+00', 'Asia/Kolkata'), '08:00 UTC: 13:30 in Kolkata, open');
select ok(pg_temp.weekdays('2026-12-02 08:00+00', 'Europe/Berlin'), '08:00 UTC: 09:00 in Berlin, open');
select ok(not pg_temp.weekdays('2026-12-02 08:00+00', 'Europe/London'), '08:00 UTC: 08:00 in London, closed');
select ok(pg_temp.weekdays('2026-12-02 03:15+00', 'Asia/Kathmandu'), '03:15 UTC: 09:00 in Kathmandu (+05:45), open');
-- Friday 4 December, 23:30 UTC: already Saturday in Tokyo.
select ok(public.is_within_calling_window('2026-12-04 23:30+00', 'Asia/Tokyo', '08:00', '20:00', '{6}'),
          'Friday 23:30 UTC is Saturday 08:30 in Tokyo: a Saturday window is open');
select ok(not public.is_within_calling_window('2026-12-04 23:30+00', 'Europe/London', '08:00', '20:00', '{6}'),
          'and in London it is still Friday: closed');

select * from finish();
rollback;
