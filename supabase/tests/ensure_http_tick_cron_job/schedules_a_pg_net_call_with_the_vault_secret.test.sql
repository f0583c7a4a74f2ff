-- ensure_http_tick_cron_job(): refuses clearly without pg_net / Vault; with them (stood in here by a
-- recording net.http_post and a vault.decrypted_secrets view, since Supabase's extensions are not on
-- this machine) it schedules exactly one job whose command posts the tick with the Vault secret.
begin;
\ir ../_helpers.psql
select plan(9);

select throws_ok(
  $$select public.ensure_http_tick_cron_job('https://example.supabase.co/functions/v1/scheduler-tick')$$,
  '42704',
  'pg_net is not installed: enable the pg_net extension (Supabase dashboard: Database > Extensions > pg_net)',
  'without pg_net it says which extension to enable'
);

select throws_ok(
  $$select public.ensure_http_tick_cron_job('not a url')$$,
  '22023',
  null,
  'a malformed URL is refused'
);

-- Stand-ins with the same signatures as on Supabase.
create schema net;
create table net.requests (url text, headers jsonb, body jsonb, timeout_milliseconds integer);
create function net.http_post(url text, body jsonb default '{}'::jsonb, params jsonb default '{}'::jsonb,
                              headers jsonb default '{}'::jsonb, timeout_milliseconds integer default 5000)
returns bigint language sql as $$
  insert into net.requests values (url, headers, body, timeout_milliseconds) returning 1::bigint
$$;

select throws_ok(
  $$select public.ensure_http_tick_cron_job('https://example.supabase.co/functions/v1/scheduler-tick')$$,
  '42704',
  'Supabase Vault is not installed: enable the supabase_vault extension',
  'without Vault it says so'
);

create schema vault;
create table vault.secrets_store (name text, decrypted_secret text);
create view vault.decrypted_secrets as select name, decrypted_secret from vault.secrets_store;

select throws_like(
  $$select public.ensure_http_tick_cron_job('https://example.supabase.co/functions/v1/scheduler-tick')$$,
  'Vault secret "scheduler_tick_secret" not found%',
  'a missing Vault secret is named'
);

insert into vault.secrets_store values ('scheduler_tick_secret', 's3cret-for-the-tick-function');

select lives_ok(
  $$select public.ensure_http_tick_cron_job('https://example.supabase.co/functions/v1/scheduler-tick')$$,
  'with pg_net, Vault and the secret the job is scheduled'
);
select lives_ok(
  $$select public.ensure_http_tick_cron_job('https://example.supabase.co/functions/v1/scheduler-tick')$$,
  'scheduling again is fine'
);

select is(
  (select count(*)::integer from cron.job where jobname = 'campaign-scheduler-http-tick'),
  1,
  'there is exactly one http tick job'
);

select ok(
  (select command not like '%s3cret%' from cron.job where jobname = 'campaign-scheduler-http-tick'),
  'the secret itself is not stored in cron.job'
);

do $$ begin execute (select command from cron.job where jobname = 'campaign-scheduler-http-tick'); end $$;

select results_eq(
  $$select url, headers ->> 'Authorization', body ->> 'trigger', timeout_milliseconds from net.requests$$,
  $$values ('https://example.supabase.co/functions/v1/scheduler-tick'::text, 'Bearer s3cret-for-the-tick-function'::text,
            'pg_net'::text, 25000)$$,
  'running the job posts the tick with the Vault secret as a Bearer token'
);

select * from finish();
rollback;
