-- A rule covers the campaigns whose purpose is among its purposes (null: every purpose); a campaign
-- that states no purpose is under every rule (the strictest). The seeded rules: the federal one
-- (8 am-9 pm) and the state ones cover telemarketing, Regulation F (8 am-9 pm) debt collection.
-- The clock: tests.wednesday_noon() is Wednesday 2 December 2026, 12:00 UTC (07:00 in Miami).
begin;
\ir ../_helpers.psql
select plan(11);

-- 20:30 in Miami (Florida: telemarketing until 8 pm).
select is(calling_hours_allow(tests.wednesday_noon() + interval '13 hours 30 minutes', 'America/New_York', '+13055550100', 'telemarketing'),
          false, 'telemarketing at 20:30 in Miami: the Florida rule refuses');
select is(calling_hours_allow(tests.wednesday_noon() + interval '13 hours 30 minutes', 'America/New_York', '+13055550100', 'informational'),
          true, 'informational at 20:30 in Miami: no rule covers it');
select is(calling_hours_allow(tests.wednesday_noon() + interval '13 hours 30 minutes', 'America/New_York', '+13055550100', 'debt_collection'),
          true, 'debt collection at 20:30 in Miami: Regulation F allows until 9 pm');
select is(calling_hours_allow(tests.wednesday_noon() + interval '14 hours 30 minutes', 'America/New_York', '+13055550100', 'debt_collection'),
          false, 'debt collection at 21:30 in Miami: Regulation F refuses');
select is(calling_hours_allow(tests.wednesday_noon() + interval '13 hours 30 minutes', 'America/New_York', '+13055550100', null),
          false, 'no purpose at 20:30 in Miami: every rule applies');

-- Three campaigns, one Miami number each: informational, no purpose, telemarketing.
select tests.create_campaign(name => 'informational', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as info \gset
update campaigns set purpose = 'informational' where id = :info;
select tests.add_contact(:info, '+13055550101');
select tests.create_campaign(name => 'no purpose', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as none \gset
select tests.add_contact(:none, '+13055550102');
select tests.create_campaign(name => 'telemarketing', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as tm \gset
update campaigns set purpose = 'telemarketing' where id = :tm;
select tests.add_contact(:tm, '+13055550103');

-- Dial time: reserved at 19:55 in Miami, claimed at 20:01.
select is(tests.launch(tests.wednesday_noon() + interval '12 hours 55 minutes'), 3, 'all three reserved at 19:55');
select results_eq(
  $$select c.name, k.release_reason
      from claim_queued_calls(100, null, tests.wednesday_noon() + interval '13 hours 1 minute') k
      join campaigns c on c.id = k.campaign_id order by c.id$$,
  $$values ('informational', null), ('no purpose', 'outside calling hours'), ('telemarketing', 'outside calling hours')$$,
  'at 20:01 the informational call is claimed, the others released'
);

-- Reservation at 20:30: a second informational contact; the released contacts are due again.
select tests.add_contact(:info, '+13055550104');
update contacts set next_attempt_at = '2026-12-01' where status = 'pending';
select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon() + interval '13 hours 30 minutes') l
      join campaigns c on c.id = l.campaign_id order by c.id$$,
  $$values ('informational', 1), ('no purpose', 0), ('telemarketing', 0)$$,
  'at 20:30 in Miami only the informational campaign reserves'
);

-- A rule for informational calls applies to them (and to campaigns without a purpose).
insert into calling_hours_rules (prefix, start_time, end_time, purposes, note)
values ('+1305', '10:00', '18:00', '{informational}', 'test: informational calls in Miami 10 am to 6 pm');
select is(calling_hours_allow(tests.wednesday_noon() + interval '12 hours', 'America/New_York', '+13055550100', 'informational'),
          false, 'informational at 19:00 in Miami: the informational rule refuses');
select is(calling_hours_allow(tests.wednesday_noon() + interval '12 hours', 'America/New_York', '+13055550100', 'telemarketing'),
          true, 'telemarketing at 19:00 in Miami: the informational rule does not apply');

select throws_ok($$update campaigns set purpose = 'sales' where id = $$ || :info,
                 '23514', 'new row for relation "campaigns" violates check constraint "campaigns_purpose_is_known"',
                 'an unknown campaign purpose is refused');

select * from finish();
rollback;
