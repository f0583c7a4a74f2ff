-- Calling windows. A window runs from window_start to window_end local time on window_days
-- (ISO: 1 = Monday ... 7 = Sunday). When window_start > window_end the window runs overnight, and
-- the hours after midnight belong to the day on which the window opened.
-- PARALLEL UNSAFE: the EXCEPTION block (an unknown zone) opens a subtransaction, which a parallel
-- query refuses ("cannot start subtransactions during a parallel operation"), in its leader too.

create function public.is_within_calling_window(
  p_now timestamptz,
  p_time_zone text,
  p_window_start time,
  p_window_end time,
  p_window_days smallint[]
)
returns boolean
language plpgsql
stable
parallel unsafe
set search_path = ''
as $$
declare
  v_local timestamp;
  v_time time;
  v_day integer;
begin
  if p_now is null or p_time_zone is null or p_window_start is null or p_window_end is null
     or p_window_days is null then
    return false;
  end if;
  begin
    v_local := pg_catalog.timezone(p_time_zone, p_now);
  exception
    when invalid_parameter_value then
      return false; -- an unknown zone never dials
  end;
  v_time := v_local::time;
  v_day := extract(isodow from v_local)::integer;
  if p_window_start < p_window_end then
    return v_time >= p_window_start and v_time < p_window_end and v_day = any (p_window_days);
  end if;
  -- overnight window
  return (v_time >= p_window_start and v_day = any (p_window_days))
      or (v_time < p_window_end and ((v_day + 5) % 7 + 1) = any (p_window_days));
end;
$$;

comment on function public.is_within_calling_window(timestamptz, text, time, time, smallint[]) is
  'True when p_now, seen in p_time_zone, falls inside the window [p_window_start, p_window_end) on one of p_window_days (ISO weekdays). Overnight windows (start > end) belong to the day they open. Unknown zones and nulls give false: they never dial.';

revoke all on function public.is_within_calling_window(timestamptz, text, time, time, smallint[]) from public, anon, authenticated;
grant execute on function public.is_within_calling_window(timestamptz, text, time, time, smallint[]) to service_role;
