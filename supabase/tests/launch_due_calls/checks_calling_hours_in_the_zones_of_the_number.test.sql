-- The calling-hours rules hold in the called party's zones, not the campaign's: US numbers without
-- a typed zone, imported into a Europe/London campaign, are not reserved at 09:20 London time (the
-- middle of the US night) and are when the US morning comes, area code by area code. A number of
-- two zones waits for both; a typed zone that is one of them narrows them, one that is none of them
-- adds to them; a number without zone data uses the campaign's zone. claim_queued_calls() checks
-- the same zones at dial time. Every clock is stated (Wednesday 2 December 2026: London is on
-- UTC, New York UTC-5, Los Angeles UTC-8, Denver UTC-7, Central UTC-6).
begin;
\ir ../_helpers.psql
select plan(11);

-- The campaign's own window is open around the clock (it is checked in a typed zone, else the
-- campaign's: not what this file is about); room for every contact.
select tests.create_campaign(name => 'london', cap => 20, time_zone => 'Europe/London', window_start => '00:00',
                             window_end => '23:59:59', window_days => '{1,2,3,4,5,6,7}') as london_id \gset
select tests.add_contact(:london_id, '+12125550101') as new_york \gset
select tests.add_contact(:london_id, '+14155550102') as los_angeles \gset
select tests.add_contact(:london_id, '+16055550103') as south_dakota \gset
select tests.add_contact(:london_id, '+16055550104', time_zone => 'America/North_Dakota/Center') as south_dakota_central \gset
select tests.add_contact(:london_id, '+12125550105', time_zone => 'America/Los_Angeles') as new_york_typed_la \gset
select tests.add_contact(:london_id, '+442071838750') as london \gset
select tests.add_contact(:london_id, '+99912345678') as no_data \gset

create function pg_temp.reserved() returns bigint[] language sql as $$
  select coalesce(array_agg(contact_id order by contact_id), '{}') from public.calls
$$;

-- 09:20 London = 04:20 in New York, 01:20 in Los Angeles.
select tests.launch('2026-12-02 09:20+00');
select is(pg_temp.reserved(), array[:london, :no_data]::bigint[],
          '09:20 London: no US number is reserved; the London number and the one without zone data (campaign zone) are');
select is((select count(*)::integer from tests.invariant_violations('2026-12-02 09:20+00')), 0, '(no invariant broken)');

-- 13:20 UTC = 08:20 in New York, 05:20 in Los Angeles, 06:20 in Denver, 07:20 Central.
select tests.launch('2026-12-02 13:20+00');
select is(pg_temp.reserved(), array[:new_york, :london, :no_data]::bigint[],
          '13:20 UTC: New York''s morning: +1212 is reserved; a +1212 number typed Los Angeles waits for both');

-- 14:05 UTC = 08:05 Central, 07:05 Denver.
select tests.launch('2026-12-02 14:05+00');
select is(pg_temp.reserved(), array[:new_york, :south_dakota_central, :london, :no_data]::bigint[],
          '14:05 UTC: +1605 typed America/North_Dakota/Center (one of its zones) is reserved; +1605 untyped waits for Denver');

-- 15:05 UTC = 08:05 Denver.
select tests.launch('2026-12-02 15:05+00');
select ok(:south_dakota = any (pg_temp.reserved()), '15:05 UTC: 08:05 in Denver, +1605 is reserved');
select ok(not (:los_angeles = any (pg_temp.reserved())), '(+1415 still waits: 07:05 in Los Angeles)');

-- 16:05 UTC = 08:05 Los Angeles.
select tests.launch('2026-12-02 16:05+00');
select ok(pg_temp.reserved() @> array[:los_angeles, :new_york_typed_la]::bigint[],
          '16:05 UTC: 08:05 in Los Angeles: +1415, and the +1212 number typed Los Angeles, are reserved');
select is((select count(*)::integer from tests.invariant_violations('2026-12-02 16:05+00')), 0, '(no invariant broken)');

-- Dial time. A UTC campaign open around the clock; reserved at 17:00 UTC (12:00 New York, 09:00
-- Los Angeles), claimed at 02:30 UTC Thursday: 21:30 in New York (quiet), 18:30 in Los Angeles.
-- In the campaign's zone both would be quiet (02:30 UTC). Calls may wait in the queue that long.
update scheduler_settings set queued_call_ttl = interval '12 hours';
select tests.create_campaign(name => 'utc', cap => 20, window_start => '00:00', window_end => '23:59:59',
                             window_days => '{1,2,3,4,5,6,7}') as utc_id \gset
select tests.add_contact(:utc_id, '+12125550201') as late_new_york \gset
select tests.add_contact(:utc_id, '+14155550202') as late_los_angeles \gset
select tests.launch('2026-12-02 17:00+00');
select is((select count(*)::integer from calls where contact_id in (:late_new_york, :late_los_angeles) and status = 'queued'),
          2, '(both reserved at 17:00 UTC)');
create temp table claimed on commit drop as
  select * from claim_queued_calls(100, null, '2026-12-03 02:30+00') where contact_id in (:late_new_york, :late_los_angeles);
select is((select release_reason from claimed where contact_id = :late_new_york), 'outside calling hours',
          'claimed at 21:30 New York time: released, outside calling hours');
select ok((select release_reason is null and send_at is not null from claimed where contact_id = :late_los_angeles),
          'claimed at 18:30 Los Angeles time: dialled');

select * from finish();
rollback;
