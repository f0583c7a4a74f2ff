-- The state rules hold at reservation (launch_due_calls) and at dial time (claim_queued_calls), in
-- the called party's local time: Florida (+1305, Miami, UTC-5 in December) 8 am to 8 pm, Maryland
-- (+1410, Baltimore, UTC-5) likewise, Oklahoma (+1405, Oklahoma City, UTC-6) none on Sundays.
-- The clock: tests.wednesday_noon() is Wednesday 2 December 2026, 12:00 UTC (07:00 in Miami).
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(name => 'all day', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}', cap => 10) as c \gset
update campaigns set purpose = 'telemarketing' where id = :c;
select tests.add_contact(:c, '+13055550100') as miami \gset

select is(tests.launch(tests.wednesday_noon() + interval '13 hours 30 minutes'), 0,
          'Florida: 20:30 in Miami is refused (inside the federal hours, after the state''s 8 pm)');
select is(tests.launch(tests.wednesday_noon() + interval '12 hours 30 minutes'), 1,
          'Florida: 19:30 in Miami is allowed');

-- Baltimore: refused at 20:30, allowed at 19:30 (a fresh contact of its own campaign).
select tests.create_campaign(name => 'maryland', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as md \gset
update campaigns set purpose = 'telemarketing' where id = :md;
select tests.add_contact(:md, '+14105550100') as baltimore \gset
select is((select l.reserved from launch_due_calls(tests.wednesday_noon() + interval '13 hours 30 minutes') l
            where l.campaign_id = :md), 0, 'Maryland: 20:30 in Baltimore is refused');

-- Oklahoma: Sunday 6 December, noon in Oklahoma City (18:00 UTC), refused; Monday noon allowed.
select tests.create_campaign(name => 'oklahoma', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as ok \gset
select tests.add_contact(:ok, '+14055550100') as okc \gset
select is((select l.reserved from launch_due_calls(tests.wednesday_noon() + interval '4 days 6 hours') l
            where l.campaign_id = :ok), 0, 'Oklahoma: Sunday noon is refused');
select is((select l.reserved from launch_due_calls(tests.wednesday_noon() + interval '5 days 6 hours') l
            where l.campaign_id = :ok), 1, 'Oklahoma: Monday noon is allowed');

-- Dial time: a Miami call reserved at 19:55 local and claimed at 20:01 is released.
select tests.end_active_calls(:c, 'busy', tests.wednesday_noon() + interval '12 hours 31 minutes');
update contacts set next_attempt_at = '2026-12-01' where id = :miami;
select tests.add_contact(:c, '+13055550111') as miami2 \gset
select cmp_ok(tests.launch(tests.wednesday_noon() + interval '12 hours 55 minutes'), '>=', 1,
              'reserved at 19:55 in Miami');
create temp table claimed on commit drop as
  select * from claim_queued_calls(100, null, tests.wednesday_noon() + interval '13 hours 1 minute');
select is((select array_agg(distinct k.release_reason) from claimed k where k.to_phone like '+1305%'),
          array['outside calling hours'],
          'claimed at 20:01 in Miami: released, outside calling hours');
select is((select count(*)::integer from calls where to_phone like '+1305%' and status = 'dialing'), 0,
          'no Miami call is dialled after 8 pm');

select * from finish();
rollback;
