-- A daytime window is open from window_start (included) until window_end (excluded), on the ISO
-- weekdays listed (1 = Monday ... 7 = Sunday). Nulls never open a window.
begin;
set search_path = public, extensions;
select plan(10);

create function pg_temp.open_at(p_now timestamptz) returns boolean language sql as $$
  select public.is_within_calling_window(p_now, 'UTC', '09:00', '17:00', '{1,2,3,4,5}')
$$;

select ok(not pg_temp.open_at('2026-12-02 08:59:59+00'), 'Wednesday 08:59:59: not yet');
select ok(pg_temp.open_at('2026-12-02 09:00:00+00'), 'Wednesday 09:00:00: open (start included)');
select ok(pg_temp.open_at('2026-12-02 16:59:59+00'), 'Wednesday 16:59:59: still open');
select ok(not pg_temp.open_at('2026-12-02 17:00:00+00'), 'Wednesday 17:00:00: closed (end excluded)');
select ok(pg_temp.open_at('2026-12-04 12:00:00+00'), 'Friday noon: open');
select ok(not pg_temp.open_at('2026-12-05 12:00:00+00'), 'Saturday noon: closed, not a window day');
select ok(not pg_temp.open_at('2026-12-06 12:00:00+00'), 'Sunday noon: closed, not a window day');
select ok(pg_temp.open_at('2026-12-07 12:00:00+00'), 'Monday noon: open');
select ok(
  public.is_within_calling_window('2026-12-06 12:00:00+00', 'UTC', '09:00', '17:00', '{7}'),
  'a Sunday-only window (ISO day 7) is open on Sunday'
);
select ok(
  not coalesce(public.is_within_calling_window(null, 'UTC', '09:00', '17:00', '{1,2,3,4,5,6,7}'), true)
  and not public.is_within_calling_window('2026-12-02 12:00+00', null, '09:00', '17:00', '{1,2,3,4,5,6,7}')
  and not public.is_within_calling_window('2026-12-02 12:00+00', 'UTC', null, '17:00', '{1,2,3,4,5,6,7}')
  and not public.is_within_calling_window('2026-12-02 12:00+00', 'UTC', '09:00', '17:00', null),
  'a null argument gives false, never a window that is open by accident'
);

select * from finish();
rollback;
