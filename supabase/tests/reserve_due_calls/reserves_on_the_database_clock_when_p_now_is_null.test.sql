-- reserve_due_calls(p_now => null): the reservation runs on the database's clock, read once it
-- holds the reservation's lock, right before launch_due_calls() takes its snapshot, not at a time
-- the caller read before its statement waited (the scheduler-tick function passes null). On the wall clock: the campaign may dial at any
-- hour of any day and no calling-hours rule is in force, so the result does not depend on when the
-- suite runs.
begin;
\ir ../_helpers.psql
select plan(4);

update calling_hours_rules set enabled = false;
select tests.create_campaign(cap => 3, window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as c \gset
-- Due a minute before the transaction began (the clock the reservation reads is later still).
select count(*) from tests.add_contacts(:c, 3, next_attempt_at => now() - interval '1 minute');
-- The transaction began before this instant: now() would stamp the calls earlier.
select pg_sleep(0.02);
select clock_timestamp() as before \gset

select is((select calls_reserved from reserve_due_calls(null, null)), 3, 'p_now null reserves');
select clock_timestamp() as after \gset
select ok((select bool_and(queued_at >= :'before' and queued_at <= :'after') from calls where campaign_id = :c),
          'each call is stamped queued at the instant the reservation ran');
select ok((select bool_and(queued_at > now()) from calls where campaign_id = :c),
          'not at the transaction''s start');
select ok((select started_at >= :'before' from campaigns where id = :c),
          'the campaign started at that instant too');

select * from finish();
rollback;
