-- A rule's max_calls_per_24h (Florida, Oklahoma, Maryland: 3) caps the calls reserved to a number it
-- matches in any rolling 24 hours, counted across campaigns, for the campaigns the rule covers.
-- The clock: tests.wednesday_noon() is Wednesday 2 December 2026, 12:00 UTC (07:00 in Miami); the
-- calls are made from 09:00 in Miami on.
begin;
\ir ../_helpers.psql
select plan(5);

select array_agg(tests.create_campaign(name => 'campaign ' || i, window_start => '00:00', window_end => '24:00',
                                       window_days => '{1,2,3,4,5,6,7}')) as campaigns
  from generate_series(1, 5) i \gset
update campaigns set purpose = 'telemarketing';
select count(tests.add_contact(c, '+13055550100')) from unnest(:'campaigns'::bigint[]) c;

-- Each hour from 09:00 in Miami: a tick, then the call it reserved ends busy a minute later.
create function pg_temp.hour(h integer) returns integer language plpgsql as $$
declare
  v_reserved integer := tests.launch(tests.wednesday_noon() + make_interval(hours => 2 + h));
begin
  perform tests.end_active_calls(cl.campaign_id, 'busy', tests.wednesday_noon() + make_interval(hours => 2 + h, mins => 1))
     from calls cl where cl.status = 'queued';
  return v_reserved;
end;
$$;
select is(array[pg_temp.hour(0), pg_temp.hour(1), pg_temp.hour(2), pg_temp.hour(3), pg_temp.hour(4)], array[1, 1, 1, 0, 0],
  'three calls to the Miami number across campaigns, then none');

-- An informational campaign is not under the Florida rule: its call goes ahead (18:30 UTC, 13:30 in
-- Miami); then it is cancelled.
select tests.create_campaign(name => 'informational', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as info \gset
update campaigns set purpose = 'informational' where id = :info;
select tests.add_contact(:info, '+13055550100');
select is((select l.reserved from launch_due_calls(tests.wednesday_noon() + interval '6 hours 30 minutes') l
            where l.campaign_id = :info), 1, 'an informational campaign is not capped by the Florida rule');
select tests.end_active_calls(:info, 'busy', tests.wednesday_noon() + interval '6 hours 31 minutes');
update campaigns set status = 'CANCELLED' where id = :info;

select is(pg_temp.hour(24), 0, '24 hours after the first call it still counts');
select is(pg_temp.hour(27), 1, 'once the calls (the informational one too) left the rolling 24 hours: one more');

select throws_ok($$insert into calling_hours_rules (max_calls_per_24h) values (0)$$, '23514', null,
                 'a cap of 0 is refused');

select * from finish();
rollback;
