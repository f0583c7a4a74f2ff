-- pg_cron -> Edge Function, for Supabase deployments: a pg_cron job that calls the scheduler-tick
-- function every minute with pg_net, its secret read from Supabase Vault at call time (never stored
-- in cron.job). Requires the pg_net extension and Vault, which Supabase projects have; elsewhere
-- the function says what is missing.

create function public.ensure_http_tick_cron_job(
  p_function_url text,
  p_vault_secret_name text default 'scheduler_tick_secret',
  p_schedule text default '* * * * *',
  p_timeout_ms integer default 25000
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_secret_found boolean;
  v_command text;
  v_secrets_view regclass;
begin
  if p_function_url is null or p_function_url !~ '^https?://[^\s''"]+$' then
    raise exception 'p_function_url must be an http(s) URL of the scheduler-tick function, got %', coalesce(p_function_url, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if p_vault_secret_name is null or p_vault_secret_name !~ '^[A-Za-z0-9_.-]{1,100}$' then
    raise exception 'p_vault_secret_name must be a plain Vault secret name' using errcode = 'invalid_parameter_value';
  end if;
  if p_timeout_ms is null or p_timeout_ms not between 1000 and 120000 then
    raise exception 'p_timeout_ms must be between 1000 and 120000, got %', p_timeout_ms using errcode = 'invalid_parameter_value';
  end if;
  if pg_catalog.to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed: enable the pg_cron extension' using errcode = 'undefined_object';
  end if;
  if pg_catalog.to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is null then
    raise exception 'pg_net is not installed: enable the pg_net extension (Supabase dashboard: Database > Extensions > pg_net)'
      using errcode = 'undefined_object';
  end if;
  v_secrets_view := pg_catalog.to_regclass('vault.decrypted_secrets');
  if v_secrets_view is null then
    raise exception 'Supabase Vault is not installed: enable the supabase_vault extension'
      using errcode = 'undefined_object';
  end if;
  -- Dynamic: Vault is not there when the migration (or a linter) compiles this function locally.
  execute 'select exists (select 1 from ' || v_secrets_view::text || ' where name = $1)'
    into v_secret_found using p_vault_secret_name;
  if not v_secret_found then
    raise exception 'Vault secret "%" not found: create it with select vault.create_secret(''<the function''''s CRON_SECRET>'', ''%'')',
      p_vault_secret_name, p_vault_secret_name
      using errcode = 'no_data_found';
  end if;

  v_command := pg_catalog.format(
    $cmd$select net.http_post(
  url := %L,
  headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization',
                                'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = %L)),
  body := jsonb_build_object('trigger', 'pg_net', 'scheduled_for', date_trunc('minute', now())),
  timeout_milliseconds := %s)$cmd$,
    p_function_url, p_vault_secret_name, p_timeout_ms);
  return cron.schedule('campaign-scheduler-http-tick', p_schedule, v_command);
end;
$$;

comment on function public.ensure_http_tick_cron_job(text, text, text, integer) is
  'Creates or updates the pg_cron job campaign-scheduler-http-tick, which POSTs {trigger: pg_net, scheduled_for} to the scheduler-tick Edge Function with pg_net every minute, authenticated with the Vault secret p_vault_secret_name. Raises a clear error when pg_net, Vault or the secret is missing. Returns the job id.';

revoke all on function public.ensure_http_tick_cron_job(text, text, text, integer) from public, anon, authenticated;
