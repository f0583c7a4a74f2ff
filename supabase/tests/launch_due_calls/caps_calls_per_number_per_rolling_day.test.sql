-- The frequency cap: scheduler_settings.max_calls_per_number_per_day limits the calls
-- reserved to one number in any rolling 24 hours, across campaigns; released calls do not count;
-- off (null) by default.
begin;
\ir ../_helpers.psql
select plan(7);

select is((select max_calls_per_number_per_day from scheduler_settings), null, 'off by default');
update scheduler_settings set max_calls_per_number_per_day = 3;

select array_agg(tests.create_campaign(name => 'campaign ' || i, window_start => '00:00', window_end => '23:59',
                                       window_days => '{1,2,3,4,5,6,7}')) as campaigns
  from generate_series(1, 5) i \gset
select count(tests.add_contact(c, '+15551230000')) from unnest(:'campaigns'::bigint[]) c;

-- Each hour: a tick, then the call it reserved is dialled and ends busy a minute later; the next
-- campaign calls the number, until 3 calls in 24 hours.
create function pg_temp.hour(h integer) returns integer language plpgsql as $$
declare
  v_reserved integer := tests.launch(tests.wednesday_noon() + make_interval(hours => h));
begin
  perform tests.end_active_calls(cl.campaign_id, 'busy', tests.wednesday_noon() + make_interval(hours => h, mins => 1))
     from calls cl where cl.status = 'queued';
  return v_reserved;
end;
$$;
select is(array[pg_temp.hour(0), pg_temp.hour(1), pg_temp.hour(2), pg_temp.hour(3), pg_temp.hour(10)], array[1, 1, 1, 0, 0],
  'three calls to the number, then none within the 24 hours');
select is(pg_temp.hour(24), 0, 'exactly 24 hours after the first call it still counts');
select is(pg_temp.hour(25), 1, 'once the first call left the rolling 24 hours: one more');
select is((select count(*)::integer from calls where released_at is null), 4, 'four calls in all');
select cmp_ok((select count(distinct campaign_id)::integer from calls), '>', 1, 'counted across campaigns');

select throws_ok('update scheduler_settings set max_calls_per_number_per_day = 0', '23514', null,
  'a cap of 0 is refused (scheduler_settings_calls_per_number_is_sane)');

select * from finish();
rollback;
