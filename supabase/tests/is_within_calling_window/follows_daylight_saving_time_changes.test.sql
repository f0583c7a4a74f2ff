-- The window is local wall-clock time: when the clocks change, the same UTC instant falls on the
-- other side of 09:00. America/New_York changes on Sunday 8 March 2026 (EST -05 -> EDT -04, at
-- 07:00 UTC) and Sunday 1 November 2026 (EDT -> EST, at 06:00 UTC); Europe/Paris on 29 March 2026.
begin;
set search_path = public, extensions;
select plan(14);

create function pg_temp.new_york(p_now timestamptz, p_start time default '09:00', p_end time default '17:00')
returns boolean language sql as $$
  select public.is_within_calling_window(p_now, 'America/New_York', p_start, p_end, '{1,2,3,4,5,6,7}')
$$;

-- Spring forward.
select ok(not pg_temp.new_york('2026-03-07 13:30+00'), 'Saturday 7 March 13:30 UTC is 08:30 EST: closed');
select ok(pg_temp.new_york('2026-03-08 13:30+00'), 'Sunday 8 March 13:30 UTC is 09:30 EDT: open');
select ok(pg_temp.new_york('2026-03-07 21:30+00'), 'Saturday 7 March 21:30 UTC is 16:30 EST: open');
select ok(not pg_temp.new_york('2026-03-08 21:30+00'), 'Sunday 8 March 21:30 UTC is 17:30 EDT: closed');
select ok(
  not (select bool_or(pg_temp.new_york(t, '02:00', '03:00'))
         from generate_series(timestamptz '2026-03-08 05:00+00', '2026-03-08 09:00+00', interval '1 minute') t),
  'a 02:00-03:00 window never opens on the night 02:00-03:00 does not exist'
);
select ok(pg_temp.new_york('2026-03-09 06:30+00', '02:00', '03:00'), 'the next night it opens again (02:30 EDT)');

-- Fall back.
select ok(pg_temp.new_york('2026-10-31 13:30+00'), 'Saturday 31 October 13:30 UTC is 09:30 EDT: open');
select ok(not pg_temp.new_york('2026-11-01 13:30+00'), 'Sunday 1 November 13:30 UTC is 08:30 EST: closed');
select ok(pg_temp.new_york('2026-11-01 14:00+00'), 'Sunday 1 November 14:00 UTC is 09:00 EST: open');
select ok(not pg_temp.new_york('2026-11-01 22:00+00'), 'Sunday 1 November 22:00 UTC is 17:00 EST: closed');
select is(
  (select count(*)::integer
     from generate_series(timestamptz '2026-11-01 04:00+00', timestamptz '2026-11-01 07:59+00', interval '1 minute') t
    where pg_temp.new_york(t, '01:00', '02:00')),
  120,
  'a 01:00-02:00 window is open for two real hours on the night 01:00-02:00 happens twice'
);

-- Europe.
select ok(not public.is_within_calling_window('2026-03-28 07:30+00', 'Europe/Paris', '09:00', '17:00', '{1,2,3,4,5,6,7}'),
          'Paris, Saturday 28 March 07:30 UTC is 08:30 CET: closed');
select ok(public.is_within_calling_window('2026-03-29 07:30+00', 'Europe/Paris', '09:00', '17:00', '{1,2,3,4,5,6,7}'),
          'Paris, Sunday 29 March 07:30 UTC is 09:30 CEST: open');
select ok(not public.is_within_calling_window('2026-03-29 15:30+00', 'Europe/Paris', '09:00', '17:00', '{1,2,3,4,5,6,7}'),
          'Paris, Sunday 29 March 15:30 UTC is 17:30 CEST: closed');

select * from finish();
rollback;
