-- A query that got a parallel plan over a function that opens a subtransaction failed
-- ("cannot start subtransactions during a parallel operation"): the invariant check of the
-- benchmark, an operator's query in Studio. Here every function the views, CHECKs, triggers and
-- operators' queries may call runs over 20,000 contacts with parallel plans forced as cheap as
-- can be: no error, and the control query does get a parallel plan (so the setting bites).
begin;
\ir ../_helpers.psql
select plan(11);

select tests.create_campaign(name => 'parallel', time_zone => 'Europe/Paris') as campaign_id \gset
insert into contacts (campaign_id, phone, time_zone, status, attempts)
select :campaign_id, '+1666' || lpad(n::text, 7, '0'),
       (array['America/New_York', 'Asia/Tokyo', null, 'Europe/Paris'])[1 + n % 4],
       (array['pending', 'done', 'exhausted', 'invalid']::contact_status[])[1 + n % 4], n % 3
  from generate_series(1, 20000) n;
-- A zone PostgreSQL does not know (written around the trigger): its window check takes the
-- EXCEPTION path.
alter table contacts disable trigger contacts_time_zone_is_valid;
update contacts set time_zone = 'Mars/Olympus_Mons' where id % 1000 = 0;
alter table contacts enable trigger contacts_time_zone_is_valid;
analyze contacts;

set local parallel_setup_cost = 0;
set local parallel_tuple_cost = 0;
set local min_parallel_table_scan_size = 0;
set local min_parallel_index_scan_size = 0;
set local max_parallel_workers_per_gather = 2;

create function tests.plan_of(p_query text)
returns setof text
language plpgsql
as $$ begin return query execute 'explain ' || p_query; end $$;

-- Each query below runs at the top level (psql), where a parallel plan may be chosen: inside a
-- pgTAP function (lives_ok, is) the planner never goes parallel. An error aborts this file, which
-- pg_prove reports as a failure.
select ok(
  (select bool_or(line ~ 'Gather') from tests.plan_of('select count(*) from public.contacts where attempts < 2') line),
  'control: a plain scan of contacts gets a parallel plan'
);

select count(*) as in_window from contacts ct join campaigns c on c.id = ct.campaign_id
 where public.is_within_calling_window(tests.wednesday_noon(), coalesce(ct.time_zone, c.time_zone),
                                       c.window_start, c.window_end, c.window_days) \gset
select ok(:in_window > 0, 'is_within_calling_window() over every contact');

select count(*) as unknown_zones from contacts where not public.is_valid_time_zone(time_zone) and time_zone is not null \gset
select is(:unknown_zones::integer, 20, 'is_valid_time_zone() over every contact finds the 20 unknown zones');

select count(*) as helpers from contacts
 where public._lock_key(phone) <> 0 or public._call_status_rank(last_call_status) > 0
    or public._is_final_call_status(last_call_status) \gset
select is(:helpers::integer, 20000, 'the PARALLEL SAFE helpers over every contact');

insert into provider_circuit_breakers (account) values ('default');
select count(*) as would_open from contacts ct, provider_circuit_breakers b
 where (public._breaker_after(b, ct.attempts = 0, 'x', now(), 1, interval '1 minute')).state = 'open' \gset
select ok(:would_open > 0, '_breaker_after() (PARALLEL SAFE) in a query');

select count(*) as status_rows from scheduler_status \gset
select is(:status_rows::integer, 1, 'the scheduler_status view');
select contacts_total as progress_total from scheduler_campaign_progress where campaign_id = :campaign_id \gset
select is(:progress_total::integer, 20000, 'the scheduler_campaign_progress view counts every contact');
select count(*) as recent_runs from scheduler_recent_runs \gset
select is(:recent_runs::integer, 0, 'the scheduler_recent_runs view');

select count(*) as e164 from contacts ct where ct.phone ~ '^\+[1-9][0-9]{6,14}$' and ct.metadata = '{}'::jsonb \gset
select is(:e164::integer, 20000, 'the E.164 rule of the CHECK constraints in a query');

select count(*) as can_dial from contacts ct join campaigns c on c.id = ct.campaign_id where c.set_up_problem is null \gset
select is(:can_dial::integer, 20000, 'the generated set_up_problem column in a query');

select count(*) as served from launch_due_calls(tests.wednesday_noon()) \gset
select is(:served::integer, 1, 'launch_due_calls() itself with parallel plans forced');

select * from finish();
rollback;
