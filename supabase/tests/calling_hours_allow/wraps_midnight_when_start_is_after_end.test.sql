-- Calling-hours rules whose period wraps midnight (start_time > end_time, e.g. 22:00-06:00 for
-- numbers that may only be called at night): allowed from start_time to end_time the next morning,
-- the minutes at each edge exact; the hours after midnight belong to the day the period opened
-- (days and holidays are checked against that day); strictest still wins with other rules.
-- UTC as the zone, so the instants read as local times. 2026-12-04 is a Friday.
begin;
\ir ../_helpers.psql
select plan(24);

update calling_hours_rules set enabled = false;
insert into calling_hours_rules (prefix, start_time, end_time, days, note)
values ('+1555', '22:00', '06:00', '{1,2,3,4,5}', 'test: weeknights, Monday to Friday nights');

create function pg_temp.allow(p_at timestamptz, p_phone text default '+15550100000') returns boolean
language sql as $$ select calling_hours_allow(p_at, 'UTC', p_phone) $$;

-- The edge minutes of a weeknight (Wednesday 2026-12-02 into Thursday).
select is(pg_temp.allow('2026-12-02 21:59:59+00'), false, '21:59:59: not yet');
select is(pg_temp.allow('2026-12-02 22:00:00+00'), true, '22:00:00: opens');
select is(pg_temp.allow('2026-12-02 23:59:59+00'), true, '23:59:59: open');
select is(pg_temp.allow('2026-12-03 00:00:00+00'), true, '00:00:00: still open after midnight');
select is(pg_temp.allow('2026-12-03 05:59:59+00'), true, '05:59:59: open');
select is(pg_temp.allow('2026-12-03 06:00:00+00'), false, '06:00:00: closed');
select is(pg_temp.allow('2026-12-03 12:00:00+00'), false, 'noon: closed');
select is(pg_temp.allow('2026-12-03 12:00:00+00', '+14155550100'), true, 'another prefix: the rule does not apply');

-- Days: the hours after midnight belong to the night that opened them.
select is(pg_temp.allow('2026-12-04 23:00:00+00'), true, 'Friday 23:00: Friday night is allowed');
select is(pg_temp.allow('2026-12-05 03:00:00+00'), true, 'Saturday 03:00: still Friday night');
select is(pg_temp.allow('2026-12-05 23:00:00+00'), false, 'Saturday 23:00: Saturday night is not allowed');
select is(pg_temp.allow('2026-12-06 03:00:00+00'), false, 'Sunday 03:00: Saturday night');
select is(pg_temp.allow('2026-12-07 03:00:00+00'), false, 'Monday 03:00: Sunday night');
select is(pg_temp.allow('2026-12-07 22:00:00+00'), true, 'Monday 22:00: Monday night opens');

-- Holidays: a holiday night is closed from its evening to the next morning, and only that night.
update calling_hours_rules set holidays = '{2026-12-02}' where prefix = '+1555';
select is(pg_temp.allow('2026-12-02 03:00:00+00'), true, 'the holiday''s early hours belong to the night before');
select is(pg_temp.allow('2026-12-02 22:00:00+00'), false, 'the holiday''s night is closed at 22:00');
select is(pg_temp.allow('2026-12-03 05:59:59+00'), false, '... and until its end the next morning');
select is(pg_temp.allow('2026-12-03 22:00:00+00'), true, 'the night after the holiday is open');

-- A zone: 22:00-06:00 in Los Angeles (UTC-8 in December) is 06:00-14:00 UTC (Thursday night).
select is(calling_hours_allow('2026-12-04 05:59:59+00', 'America/Los_Angeles', '+15550100000'), false,
          '21:59:59 in Los Angeles: not yet');
select is(calling_hours_allow('2026-12-04 13:59:59+00', 'America/Los_Angeles', '+15550100000'), true,
          '05:59:59 in Los Angeles: still open');

-- Strictest wins: with the federal 08:00-21:00 rule on, a night-only number is never allowed.
update calling_hours_rules set enabled = true where prefix = '';
select is((select count(*)::integer from generate_series(timestamptz '2026-12-02 00:00+00', '2026-12-08 23:59+00',
                                                          interval '1 minute') t
            where pg_temp.allow(t)), 0, 'a night rule and the federal day rule leave no minute of the week');

-- A daytime rule to midnight and a whole-day rule.
update calling_hours_rules set enabled = false;
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+1666', '20:00', '24:00', 'test: to midnight');
select is(pg_temp.allow('2026-12-02 23:59:59+00', '+16660100000'), true, '20:00-24:00 allows 23:59:59');
select is(pg_temp.allow('2026-12-03 00:00:00+00', '+16660100000'), false, '... and not 00:00 (a new day)');
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+1777', '00:00', '24:00', 'test: whole day');
select is((select count(*)::integer from generate_series(timestamptz '2026-12-02 00:00+00', '2026-12-02 23:59+00',
                                                          interval '1 minute') t
            where pg_temp.allow(t, '+17770100000')), 1440, '00:00-24:00 allows every minute of the day');

select * from finish();
rollback;
