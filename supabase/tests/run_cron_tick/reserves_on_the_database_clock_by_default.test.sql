-- run_cron_tick() as the pg_cron job calls it (no p_now): the run row starts at the transaction's
-- start, and the reservation runs on the database's clock once it holds its lock, not at that
-- start (the run row and the housekeeping come first). On the wall clock: the campaign may dial at
-- any hour of any day, no calling-hours rule is in force and the contacts are due a minute before
-- the transaction, so the result does not depend on when the suite runs.
begin;
\ir ../_helpers.psql
select plan(4);

update calling_hours_rules set enabled = false;
select tests.create_campaign(cap => 2, window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as c \gset
select count(*) from tests.add_contacts(:c, 2, next_attempt_at => now() - interval '1 minute');
select pg_sleep(0.02);
select clock_timestamp() as before \gset

create temp table tick on commit drop as select run_cron_tick() as answer;
select is((select (answer ->> 'calls_reserved')::integer from tick), 2, 'the tick reserves');
select is((select started_at from scheduler_runs where id = (select (answer ->> 'run_id')::bigint from tick)), now(),
          'its run row starts at the transaction''s start');
select ok((select bool_and(queued_at >= :'before' and queued_at <= clock_timestamp()) from calls where campaign_id = :c),
          'its calls are stamped at the instant the reservation ran');
select ok((select bool_and(queued_at > now()) from calls where campaign_id = :c),
          'not at the transaction''s start');

select * from finish();
rollback;
