-- Failed authentication, counted per source: the Edge Functions record every refused credential
-- (a wrong cron secret, admin or metrics token, a forged Twilio signature) here, and once a source
-- has failed more than the allowed number of times inside the window its further failures are
-- answered 429 with Retry-After instead of 401/403. Only failures are counted and limited: a
-- request with a valid credential is accepted before this table is consulted, so the cron caller
-- is never locked out, whoever else shares its address.
--
-- One row per source (the client address), with a fixed window: the count starts again when the
-- window has passed. Rows of sources quiet for a day are deleted as new failures come in.

create table public.auth_failures (
  source text primary key,
  window_started_at timestamptz not null,
  failures integer not null,
  last_failed_at timestamptz not null,
  last_function text not null,
  limited_since timestamptz,
  constraint auth_failures_source_is_short check (length(source) between 1 and 100),
  constraint auth_failures_failures_is_positive check (failures >= 1),
  constraint auth_failures_last_after_window_start check (last_failed_at >= window_started_at),
  constraint auth_failures_function_is_a_name check (last_function ~ '^[a-z][a-z0-9_-]{0,62}$')
);

create index auth_failures_last_failed_at on public.auth_failures (last_failed_at);

comment on table public.auth_failures is
  'Failed authentication per source (client address) in the current window: how many, when the window started, the last failure and the function it hit. limited_since: when the source went over the limit in this window (its failures are answered 429). Never holds a presented credential.';

alter table public.auth_failures enable row level security;
revoke all on table public.auth_failures from anon, authenticated;

-- record_auth_failure(): counts one failure of p_source against p_function at p_now and says
-- whether the source is over p_limit failures in its p_window window (limited), and for how long.
create function public.record_auth_failure(
  p_source text,
  p_function text,
  p_limit integer,
  p_window interval,
  p_now timestamptz default now()
)
returns table (failures integer, limited boolean, retry_after_ms integer)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_row public.auth_failures;
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'p_limit must be at least 1, got %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  if p_window is null or p_window <= interval '0' then
    raise exception 'p_window must be positive' using errcode = 'invalid_parameter_value';
  end if;
  insert into public.auth_failures as a (source, window_started_at, failures, last_failed_at, last_function, limited_since)
  values (left(coalesce(nullif(p_source, ''), 'unknown'), 100), p_now, 1, p_now, p_function,
          null)
  on conflict (source) do update
     set window_started_at = case when a.window_started_at + p_window <= p_now then p_now else a.window_started_at end,
         failures = case when a.window_started_at + p_window <= p_now then 1 else a.failures + 1 end,
         last_failed_at = greatest(a.last_failed_at, p_now),
         last_function = excluded.last_function,
         limited_since = case
           when a.window_started_at + p_window <= p_now then null
           when a.failures + 1 > p_limit then coalesce(a.limited_since, p_now)
           else null end
  returning * into v_row;

  delete from public.auth_failures a
   where a.last_failed_at < p_now - greatest(p_window, interval '1 day');

  return query select v_row.failures, v_row.failures > p_limit,
    case when v_row.failures > p_limit
      then greatest(1, ceil(extract(epoch from (v_row.window_started_at + p_window - p_now)) * 1000))::integer
      else 0 end;
end;
$$;

comment on function public.record_auth_failure(text, text, integer, interval, timestamptz) is
  'Counts one failed authentication of p_source (client address) against p_function at p_now, in a fixed window of p_window. Returns the failures in the window, limited (more than p_limit: answer 429) and retry_after_ms (until the window ends).';

revoke all on function public.record_auth_failure(text, text, integer, interval, timestamptz) from public, anon, authenticated;
grant execute on function public.record_auth_failure(text, text, integer, interval, timestamptz) to service_role;
