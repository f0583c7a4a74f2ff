-- The zones of a number: those of its longest prefix in phone_prefix_zones (libphonenumber's map),
-- and the zones the calling-hours rules are checked in (calling_hours_zones(): the typed-zone
-- policy). Fixed instants: no dependence on the day the suite runs.
begin;
\ir ../_helpers.psql
-- This file is about the data itself: the +1 country list the helpers set aside comes back.
insert into public.phone_prefix_zones select * from tests_set_aside_zones;
select plan(20);

select ok((select count(*) from public.phone_prefix_zones) > 3000, 'the map has its few thousand prefixes');
select is((select count(*) from (select distinct unnest(time_zones) as z from public.phone_prefix_zones) d
            where not public.is_valid_time_zone(d.z)), 0::bigint,
          'PostgreSQL knows every zone of the map (an unknown one would never dial)');

-- One zone, by area code.
select is(public.phone_time_zones('+14155550100'), '{America/Los_Angeles}', '+1415: Los Angeles');
select is((public.phone_prefix_zone('+14155550100')).prefix, '+1415', 'the prefix used is named');
-- The longest prefix wins: +1850 is Eastern, its exchanges +1850200... are Central.
select is(public.phone_time_zones('+18505550100'), '{America/New_York}', '+1850: Eastern');
select is(public.phone_prefix_zone('+18502001234'), row('+1850200'::text, '{America/Chicago}'::text[])::record,
          '+1850200: Central (a longer prefix)');
-- An area code that straddles two zones.
select is(public.phone_time_zones('+16055550100'), '{America/Denver,America/North_Dakota/Center}',
          '+1605 (South Dakota) straddles Mountain and Central');
-- A country code without a finer entry: the whole country's zones.
select is(cardinality(public.phone_time_zones('+61500000000')), 8, '+615...: every Australian zone (the +61 list)');
select ok(public.phone_time_zones('+70000000000') @> '{Europe/Moscow,Asia/Vladivostok,Asia/Kamchatka}',
          '+70...: the +7 list, Kaliningrad to Kamchatka');
select is(cardinality(public.phone_time_zones('+15550100000')), 42,
          '+1555 (no area code): every zone of the North American Numbering Plan');
-- No data.
select is(public.phone_time_zones('+99912345678'), null, '+999: no zone data');
select is(public.phone_prefix_zone('+99912345678'), row(null::text, null::text[])::record, 'no prefix either');

-- The typed-zone policy.
select is(public.calling_hours_zones('+14155550100', null, 'Europe/London'),
          row('{America/Los_Angeles}'::text[], 'number'::text, '+1415'::text)::record, 'no typed zone: the number''s zones');
select is(public.calling_hours_zones('+16055550100', 'America/North_Dakota/Center', 'Europe/London'),
          row('{America/North_Dakota/Center}'::text[], 'contact'::text, '+1605'::text)::record,
          'a typed zone that is one of the number''s narrows them');
select is(public.calling_hours_zones('+14155550100', 'America/New_York', 'Europe/London'),
          row('{America/Los_Angeles,America/New_York}'::text[], 'contact+number'::text, '+1415'::text)::record,
          'a typed zone that is none of the number''s: both count');
select is(public.calling_hours_zones('+99912345678', 'Asia/Tokyo', 'Europe/London'),
          row('{Asia/Tokyo}'::text[], 'contact'::text, null::text)::record, 'no data: the typed zone');
select is(public.calling_hours_zones('+99912345678', null, 'Europe/London'),
          row('{Europe/London}'::text[], 'campaign'::text, null::text)::record, 'no data, no typed zone: the campaign''s');

-- DST: the federal rule (08:00-21:00) for a +1415 number moves by an hour in UTC when California
-- leaves summer time (1 November 2026), while a London campaign's clock says nothing about it.
select ok(public.calling_hours_allow('2026-10-28 15:30+00', 'America/Los_Angeles', '+14155550100'),
          '28 October 15:30 UTC is 08:30 PDT: allowed');
select ok(not public.calling_hours_allow('2026-11-04 15:30+00', 'America/Los_Angeles', '+14155550100'),
          '4 November 15:30 UTC is 07:30 PST: quiet hours');
-- A number of two zones is allowed only when both are: +1605 at 14:30 UTC in December is 08:30 in
-- Central, 07:30 in Mountain.
select ok(exists (select 1 from unnest(public.phone_time_zones('+16055550100')) z
                   where not public.calling_hours_allow('2026-12-02 14:30+00', z, '+16055550100')),
          '+1605 at 14:30 UTC (December): closed in Denver, so not allowed');

select * from finish();
rollback;
