-- reserve_due_calls(..., p_housekeeping => false): a background dispatcher's refill reserves without
-- running the housekeeping the tick already ran (the reaper does not run every second).
begin;
\ir ../_helpers.psql
select plan(3);

select tests.create_campaign(cap => 2) as c \gset
-- A call stuck in dialing for a day: housekeeping would expire it. Then two more contacts.
select tests.dial((select id from tests.add_contacts(:c, 1) as t (id)), tests.wednesday_noon() - interval '1 day');
select count(*) from tests.add_contacts(:c, 2);

create temp table refill on commit drop as
  select * from reserve_due_calls(null, tests.wednesday_noon(), false);
select is((select calls_expired from refill), 0, 'no housekeeping: the stuck call is not expired');
select is((select calls_reserved from refill), 1, 'the reservation ran: the free slot is filled');
select is((select calls_expired from reserve_due_calls(null, tests.wednesday_noon() + interval '1 minute')), 1,
          'with housekeeping (the default) the stuck call is expired');

select * from finish();
rollback;
