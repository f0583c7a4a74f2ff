-- A function that opens a subtransaction (an EXCEPTION block) or writes must not be PARALLEL SAFE:
-- a parallel query refuses both ("cannot start subtransactions during a parallel operation"), in
-- its leader too, so such a function is PARALLEL UNSAFE (the default) and the planner keeps every
-- query that calls it serial. A function marked safe may only call functions marked safe.
begin;
\ir ../_helpers.psql
select plan(4);

select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.proparallel = 's'
       and p.prosrc ~* '\mexception\M'$$,
  'no PARALLEL SAFE function has an EXCEPTION block'
);
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.proparallel = 's'
       and (p.prosrc ~* '\m(insert|update|delete|merge|truncate|perform|execute)\M'
            or p.prosrc ~* '\mnextval\s*\(' or p.prosrc ~* '\mfor\s+update\M')$$,
  'no PARALLEL SAFE function writes, locks rows or runs dynamic SQL'
);
select is_empty(
  $$select f.oid::regprocedure::text || ' calls ' || g.oid::regprocedure::text
      from pg_proc f
      join pg_proc g on g.pronamespace = 'public'::regnamespace and g.proparallel <> 's'
                    and f.prosrc ~* ('\m' || g.proname || '\s*\(')
     where f.pronamespace = 'public'::regnamespace and f.proparallel = 's'$$,
  'no PARALLEL SAFE function calls a function that is not'
);
select is(
  (select string_agg(p.proname::text || ' ' || p.proparallel::text, ', ' order by p.proname) from pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and p.proname in ('is_valid_time_zone', 'is_within_calling_window', '_settings', '_check_time_zone')),
  '_check_time_zone u, _settings u, is_valid_time_zone u, is_within_calling_window u',
  'the time zone functions (EXCEPTION blocks) and _settings() (it may insert) are PARALLEL UNSAFE'
);

select * from finish();
rollback;
