-- Why not now names the zone in which the calling-hours rules keep a number waiting and where that
-- zone comes from, with the hour, local to that zone, at which they open; it counts the contacts
-- whose rules fall back to the campaign's zone (no zone data for the number). The view runs on the
-- wall clock: the rule here is set relative to now() in Pacific/Honolulu (no DST), the federal
-- rule is turned off, the campaign's window is open around the clock.
begin;
\ir ../_helpers.psql
select plan(6);

update calling_hours_rules set enabled = false;
create temp table h on commit drop as
  select ((now() at time zone 'Pacific/Honolulu')::time + interval '1 hour')::time as opens,
         ((now() at time zone 'Pacific/Honolulu')::time + interval '2 hours')::time as closes;
insert into calling_hours_rules (prefix, start_time, end_time, note)
  select '+1808', h.opens, h.closes, 'test: Hawaii, from an hour from now for an hour' from h;

select tests.create_campaign(name => 'zones', cap => 5, window_start => '00:00', window_end => '23:59:59',
                             window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select tests.add_contact(:campaign_id, '+18085550101', next_attempt_at => now() - interval '1 minute');
select tests.add_contact(:campaign_id, '+18085550102', next_attempt_at => now() - interval '1 minute');
select tests.add_contact(:campaign_id, '+99912345678', next_attempt_at => now() - interval '1 minute');

select is((select contacts from contact_wait_reasons where campaign_id = :campaign_id and reason = 'quiet hours'),
          2::bigint, 'the two Hawaiian numbers wait for quiet hours');
select is((select detail from contact_wait_reasons where campaign_id = :campaign_id and reason = 'quiet hours'),
          (select 'in Pacific/Honolulu (from the number''s prefix +1808) until ' || to_char(h.opens, 'HH24:MI') from h),
          'detail: the zone, where it comes from, and the hour it opens there');
select ok((select opens_at > now() and opens_at <= now() + interval '61 minutes'
             from contact_wait_reasons where campaign_id = :campaign_id and reason = 'quiet hours'),
          'opens_at: when the rule opens in Honolulu, within the hour');
select is((select no_zone_data from contact_wait_reasons where campaign_id = :campaign_id and reason = 'quiet hours'),
          0::bigint, 'their numbers have zone data');
select is((select (contacts, no_zone_data) from contact_wait_reasons where campaign_id = :campaign_id and reason = 'due'),
          (1::bigint, 1::bigint), 'the +999 number is due, flagged: no zone data (its rules use the campaign''s zone)');

-- A typed zone that is none of the number's: both count, and the detail says which one is quiet
-- (this rule's hour never falls in both zones: no opening within 15 days, no "until").
select tests.add_contact(tests.create_campaign(name => 'typed', window_start => '00:00', window_end => '23:59:59',
                                               window_days => '{1,2,3,4,5,6,7}'),
                         '+18085550103', time_zone => 'Europe/London', next_attempt_at => now() - interval '1 minute');
select is((select detail from contact_wait_reasons where campaign_name = 'typed' and reason = 'quiet hours'),
            'in Pacific/Honolulu (from the number''s prefix +1808)',
            'a contact typed Europe/London with a Hawaiian number: quiet in Honolulu, from the number');

select * from finish();
rollback;
