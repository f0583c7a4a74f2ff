-- pg_cron lives in pg_catalog, as on Supabase (never in public).
-- On a Supabase project this is the same statement the dashboard runs when you enable pg_cron.
create extension if not exists pg_cron with schema pg_catalog;

grant usage on schema cron to postgres;
