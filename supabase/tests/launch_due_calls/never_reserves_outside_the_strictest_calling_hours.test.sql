-- Calling-hours rules in the reservation: a campaign window wider than the law reserves nothing
-- outside the rules' hours, in each contact's own zone (else the campaign's); a prefix rule holds
-- back only its numbers; an enabled rule tightens the hours at once. claim_queued_calls() re-checks
-- the rules at dial time.
begin;
\ir ../_helpers.psql
select plan(6);

-- Wednesday 07:30 UTC: inside the campaign's 06:00-23:00 window, before the federal 8 am in UTC,
-- 08:30 in Paris.
select tests.create_campaign(name => 'early', window_start => '06:00', window_end => '23:00') as early_id \gset
select tests.add_contact(:early_id, '+15550000001') as utc_contact \gset
select tests.add_contact(:early_id, '+15550000002', time_zone => 'Europe/Paris') as paris_contact \gset

create temp table launched on commit drop as
  select * from launch_due_calls(tests.wednesday_noon() - interval '4 hours 30 minutes');

select is((select array_agg(contact_id order by contact_id) from calls where campaign_id = :early_id),
          array[:paris_contact]::bigint[],
          'only the contact whose own zone is inside the calling hours is reserved');

-- A prefix rule: +1555000001x numbers only 13:00-14:00.
select tests.create_campaign(name => 'prefix') as prefix_id \gset
select tests.add_contact(:prefix_id, '+15550000011') as ruled_contact \gset
select tests.add_contact(:prefix_id, '+15550000021') as free_contact \gset
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+1555000001', '13:00', '14:00', 'test');
select tests.launch(tests.wednesday_noon());
select is((select count(*)::integer from calls where campaign_id = :prefix_id and contact_id = :ruled_contact), 0,
          'a number under a closed prefix rule is held back');
select is((select count(*)::integer from calls where campaign_id = :prefix_id and contact_id = :free_contact), 1,
          'a number outside the prefix is reserved');
select tests.launch(tests.wednesday_noon() + interval '1 hour 5 minutes');
select is((select count(*)::integer from calls where contact_id = :ruled_contact), 1,
          'inside the rule''s hours its number is reserved');

-- Dial time: reserved at 20:55 UTC (campaign window until 23:00), claimed at 21:01.
select tests.create_campaign(name => 'late', window_end => '23:00') as late_id \gset
select tests.add_contact(:late_id, '+15559000001') as late_contact \gset
select tests.launch(tests.wednesday_noon() + interval '8 hours 55 minutes');
select is((select count(*)::integer from calls where contact_id = :late_contact and status = 'queued'), 1,
          '(reserved at 20:55)');
select is(
  (select release_reason from claim_queued_calls(100, null, tests.wednesday_noon() + interval '9 hours 1 minute')
    where contact_id = :late_contact),
  'outside calling hours',
  'claim_queued_calls() releases a call whose number the rules now forbid'
);

select * from finish();
rollback;
