-- Supabase exposes the public schema through PostgREST to anon and authenticated. Nothing of the
-- scheduler may be reachable that way: RLS on every table, no privilege on any table, view or
-- sequence, no execute on any function; every function pins search_path = ''; no SECURITY DEFINER;
-- no extension lives in public.
begin;
\ir ../_helpers.psql
select plan(21);

select is(
  (select array_agg(c.relname::text order by c.relname) from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null,
  'row level security is enabled on every table in public'
);
select cmp_ok(
  (select count(*)::integer from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')),
  '>=', 7, '(the check above saw the scheduler''s tables)'
);

select is(
  (select array_agg(format('%s on %s', r.rolname, c.relname) order by c.relname, r.rolname)
     from pg_class c cross join pg_roles r
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and r.rolname in ('anon', 'authenticated')
      and has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),
  null,
  'anon and authenticated hold no privilege on any table or view in public'
);
select is(
  (select array_agg(format('%s on %s', r.rolname, c.relname) order by c.relname, r.rolname)
     from pg_class c cross join pg_roles r
    where c.relnamespace = 'public'::regnamespace and c.relkind = 'S'
      and r.rolname in ('anon', 'authenticated')
      and has_sequence_privilege(r.oid, c.oid, 'USAGE, SELECT, UPDATE')),
  null,
  'anon and authenticated hold no privilege on any sequence in public'
);
select is(
  (select array_agg(format('%s on %s', r.rolname, p.oid::regprocedure) order by p.oid::regprocedure::text, r.rolname)
     from pg_proc p cross join pg_roles r
    where p.pronamespace = 'public'::regnamespace
      and r.rolname in ('anon', 'authenticated')
      and has_function_privilege(r.oid, p.oid, 'EXECUTE')),
  null,
  'anon and authenticated cannot execute any function in public'
);
select cmp_ok(
  (select count(*)::integer from pg_proc p where p.pronamespace = 'public'::regnamespace),
  '>=', 20, '(the check above saw the scheduler''s functions)'
);
select ok(
  has_function_privilege('service_role', 'public.launch_due_calls(timestamptz, integer, bigint)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.claim_queued_calls(integer, bigint, timestamptz, bigint, integer, integer, jsonb)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.apply_call_status(bigint, text, text, call_status, integer, text, timestamptz, text, text)', 'EXECUTE'),
  'service_role (the Edge Functions) can execute the scheduler''s entry points'
);
select ok(
  has_function_privilege('service_role', 'public.admin_add_do_not_call(text, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.admin_remove_do_not_call(text, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.admin_import_do_not_call(jsonb, text, bigint, timestamptz, text)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.opt_out_during_call(bigint, timestamptz)', 'EXECUTE')
  and not has_function_privilege('anon', 'public.opt_out_during_call(bigint, timestamptz)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'public.admin_add_do_not_call(text, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'public.admin_remove_do_not_call(text, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'public.admin_import_do_not_call(jsonb, text, bigint, timestamptz, text)', 'EXECUTE'),
  'the do-not-call functions: service_role only'
);
select ok(
  has_function_privilege('service_role', 'public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.closed_calling_hours_by_zone(timestamptz, text[], text)', 'EXECUTE')
  and has_function_privilege('service_role', 'public.calling_hours_allow(timestamptz, text, text, text)', 'EXECUTE')
  and not has_function_privilege('anon', 'public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'public.closed_calling_hours_by_zone(timestamptz, text[], text)', 'EXECUTE'),
  'the calling-hours rule functions: service_role only'
);
select is(
  (select array_agg(p.oid::regprocedure::text order by 1) from pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and not coalesce('search_path=""' = any (p.proconfig), false)),
  null,
  'every function in public pins search_path to the empty string'
);
select is(
  (select array_agg(p.oid::regprocedure::text order by 1) from pg_proc p
    where p.pronamespace = 'public'::regnamespace and p.prosecdef),
  null,
  'no function in public is SECURITY DEFINER'
);
select is(
  (select array_agg(c.relname::text order by 1) from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind = 'v'
      and not coalesce('security_invoker=true' = any (c.reloptions), false)),
  null,
  'every view in public runs with the reader''s rights (security_invoker)'
);
select is(
  (select array_agg(e.extname::text order by 1) from pg_extension e where e.extnamespace = 'public'::regnamespace),
  null,
  'no extension is installed in schema public'
);

-- The same, seen by the roles themselves. (On Supabase every role may use the extensions schema,
-- where pgTAP lives; grant that here too, inside this rolled-back transaction.)
grant usage on schema extensions to anon, authenticated;
set local role anon;
select throws_ok('select * from public.campaigns', '42501', 'permission denied for table campaigns',
                 'anon cannot read campaigns');
select throws_ok('select public.launch_due_calls()', '42501', 'permission denied for function launch_due_calls',
                 'anon cannot launch calls');
select throws_ok('select * from public.operator_tokens', '42501', 'permission denied for table operator_tokens',
                 'anon cannot read the operator tokens (not even their hashes)');
select throws_ok($$select * from public.authenticate_operator_token('\x00'::bytea)$$, '42501',
                 'permission denied for function authenticate_operator_token',
                 'anon cannot try operator tokens against the database');
reset role;
set local role authenticated;
select throws_ok('select * from public.operator_audit_log', '42501', 'permission denied for table operator_audit_log',
                 'authenticated cannot read the audit trail');
select throws_ok($$select * from public.record_auth_failure('x', 'scheduler-tick', 1, '1 minute')$$, '42501',
                 'permission denied for function record_auth_failure',
                 'authenticated cannot write the failed-authentication counts');
select throws_ok($$insert into public.do_not_call_numbers (phone) values ('+15550001111')$$, '42501',
                 'permission denied for table do_not_call_numbers',
                 'authenticated cannot write to the do-not-call list');
reset role;
set local role anon;
select throws_ok('select public.opt_out_during_call(1)', '42501', 'permission denied for function opt_out_during_call',
                 'anon cannot put a called number on the list (only the signed opt-out URL, through call-status)');
reset role;

select * from finish();
rollback;
