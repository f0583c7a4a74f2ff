-- next_calling_time(): until when a contact waits (why not now). The first instant at or after
-- p_now at which the campaign window and every matching enabled calling-hours rule allow a call in
-- the zone; p_now itself when both allow now; null for an unknown zone or when nothing opens within
-- 15 days. Wednesday 2026-12-02 12:00 UTC is the suite's clock; New York is UTC-5 in December.
begin;
\ir ../_helpers.psql
select plan(14);

update calling_hours_rules set enabled = false;

create function pg_temp.next(p_now timestamptz, p_zone text, p_start time, p_end time, p_days smallint[],
                             p_phone text default '+12125550100')
returns timestamptz language sql as $$ select next_calling_time(p_now, p_zone, p_start, p_end, p_days, p_phone) $$;

-- Window only.
select is(pg_temp.next('2026-12-02 12:00+00', 'UTC', '09:00', '17:00', '{1,2,3,4,5}'), '2026-12-02 12:00+00'::timestamptz,
          'inside the window: now');
select is(pg_temp.next('2026-12-02 18:00+00', 'UTC', '09:00', '17:00', '{1,2,3,4,5}'), '2026-12-03 09:00+00'::timestamptz,
          'after the window: its start the next day');
select is(pg_temp.next('2026-12-04 18:00+00', 'UTC', '09:00', '17:00', '{1,2,3,4,5}'), '2026-12-07 09:00+00'::timestamptz,
          'Friday evening: Monday morning (weekend days skipped)');
select is(pg_temp.next('2026-12-02 12:00+00', 'America/New_York', '09:00', '17:00', '{1,2,3,4,5}'),
          '2026-12-02 14:00+00'::timestamptz, '07:00 in New York: 09:00 New York time (14:00 UTC)');
select is(pg_temp.next('2026-12-02 12:00+00', 'UTC', '22:00', '06:00', '{3}'), '2026-12-02 22:00+00'::timestamptz,
          'an overnight window: tonight at its start');
select is(pg_temp.next('2026-12-03 03:00+00', 'UTC', '22:00', '06:00', '{3}'), '2026-12-03 03:00+00'::timestamptz,
          'an overnight window after midnight, belonging to the day it opened: now');

-- DST: New York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT) and falls back on 2026-11-01.
select is(pg_temp.next('2026-03-08 06:00+00', 'America/New_York', '02:15', '05:00', '{1,2,3,4,5,6,7}'),
          '2026-03-08 07:00+00'::timestamptz, 'a start inside the spring-forward gap: open when the clock jumps (03:00 EDT)');
select is(pg_temp.next('2026-11-01 04:00+00', 'America/New_York', '01:30', '05:00', '{1,2,3,4,5,6,7}'),
          '2026-11-01 05:30+00'::timestamptz, 'a start in the repeated fall-back hour: its first occurrence (01:30 EDT)');

-- Rules: the strictest wins, including one that wraps midnight.
update calling_hours_rules set enabled = true where prefix = '';   -- federal 08:00-21:00
select is(pg_temp.next('2026-12-02 12:00+00', 'America/New_York', '07:00', '17:00', '{1,2,3,4,5}'),
          '2026-12-02 13:00+00'::timestamptz, 'window opens 07:00 but the federal rule 08:00: 08:00 New York (13:00 UTC)');
select is(pg_temp.next('2026-12-02 23:00+00', 'UTC', '00:00', '24:00', '{1,2,3,4,5,6,7}'), '2026-12-03 08:00+00'::timestamptz,
          'a whole-day window at 23:00: the federal rule opens at 08:00');
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+1212', '20:00', '06:00', 'test: nights');
select is(pg_temp.next('2026-12-02 12:00+00', 'UTC', '00:00', '24:00', '{1,2,3,4,5,6,7}'), '2026-12-02 20:00+00'::timestamptz,
          'federal 08:00-21:00 and a 20:00-06:00 rule for +1212: 20:00');
select is(pg_temp.next('2026-12-02 12:00+00', 'UTC', '00:00', '24:00', '{1,2,3,4,5,6,7}', '+13125550100'),
          '2026-12-02 12:00+00'::timestamptz, 'another number is not held by the +1212 rule: now');

select is(pg_temp.next('2026-12-02 12:00+00', 'Mars/Olympus_Mons', '09:00', '17:00', '{1,2,3,4,5}'), null,
          'an unknown zone never dials: null');
update calling_hours_rules set holidays = (select array_agg(d::date) from generate_series(date '2026-12-02', date '2026-12-20', interval '1 day') d)
 where prefix = '';
select is(pg_temp.next('2026-12-02 23:00+00', 'UTC', '00:00', '24:00', '{1,2,3,4,5,6,7}'), null,
          'nothing allowed within 15 days: null');

select * from finish();
rollback;
