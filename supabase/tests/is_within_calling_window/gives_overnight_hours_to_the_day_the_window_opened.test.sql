-- An overnight window (window_start > window_end) runs past midnight; the hours after midnight
-- belong to the day on which the window opened, so window_days names the evening's day.
begin;
set search_path = public, extensions;
select plan(9);

-- 22:00-06:00, Fridays only: Friday 22:00 until Saturday 06:00.
create function pg_temp.friday_night(p_now timestamptz) returns boolean language sql as $$
  select public.is_within_calling_window(p_now, 'UTC', '22:00', '06:00', '{5}')
$$;

select ok(not pg_temp.friday_night('2026-12-04 21:59:59+00'), 'Friday 21:59:59: not yet');
select ok(pg_temp.friday_night('2026-12-04 22:00:00+00'), 'Friday 22:00: open');
select ok(pg_temp.friday_night('2026-12-04 23:59:59+00'), 'Friday 23:59:59: open');
select ok(pg_temp.friday_night('2026-12-05 02:00:00+00'), 'Saturday 02:00: open, it is still Friday''s night');
select ok(not pg_temp.friday_night('2026-12-05 06:00:00+00'), 'Saturday 06:00: closed (end excluded)');
select ok(not pg_temp.friday_night('2026-12-05 23:00:00+00'), 'Saturday 23:00: closed, Saturday is not a window day');
select ok(not pg_temp.friday_night('2026-12-04 02:00:00+00'), 'Friday 02:00: closed, that is Thursday''s night');

-- Across the week boundary: a Sunday-night window runs into Monday morning.
select ok(
  public.is_within_calling_window('2026-12-07 03:00:00+00', 'UTC', '22:00', '06:00', '{7}'),
  'Sunday-night window: open on Monday 03:00'
);
select ok(
  not public.is_within_calling_window('2026-12-06 03:00:00+00', 'UTC', '22:00', '06:00', '{7}'),
  'Sunday-night window: closed on Sunday 03:00 (Saturday''s night)'
);

select * from finish();
rollback;
