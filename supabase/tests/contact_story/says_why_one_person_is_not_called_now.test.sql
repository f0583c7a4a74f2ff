-- Why-not-now for one person: contact_story() gives each of the number's waiting contacts the first
-- reason it is not called at p_now and until when, naming the zone and where it came from; and every
-- attempt of each contact. contact_wait_details() is the one home of the reasons: the view
-- contact_wait_reasons counts the same rows.
begin;
\ir ../_helpers.psql
select plan(9);

insert into public.phone_prefix_zones select * from tests_set_aside_zones;
delete from calling_hours_rules;
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('', '08:00', '21:00', 'federal');

-- A London campaign, open all day; a Los Angeles number (+1213) in it, and the same number in a
-- paused campaign. Wednesday 12:00 UTC is 04:00 in Los Angeles.
select tests.create_campaign(cap => 5, time_zone => 'Europe/London', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as london \gset
select tests.create_campaign(cap => 5, status => 'PAUSED') as paused \gset
select tests.add_contact(:london, '+12135550100') as la \gset
select tests.add_contact(:paused, '+12135550100') as la_paused \gset

create temp table story on commit drop as
  select contact_story('+12135550100', p_now => tests.wednesday_noon()) as s;
select is((select jsonb_array_length(s -> 'contacts') from story), 2, 'both contacts of the number');
select is(
  (select c -> 'why_not_now' ->> 'detail' from story, jsonb_array_elements(s -> 'contacts') c where c ->> 'id' = :'la'),
  'quiet hours in America/Los_Angeles (from the number''s prefix +1213) until 08:00',
  'quiet hours: the zone, where it comes from, and until when in that zone'
);
select is(
  (select (c -> 'why_not_now' ->> 'until')::timestamptz from story, jsonb_array_elements(s -> 'contacts') c where c ->> 'id' = :'la'),
  tests.wednesday_noon() + interval '4 hours',
  'until 08:00 Los Angeles time'
);
select is(
  (select c -> 'why_not_now' ->> 'reason' from story, jsonb_array_elements(s -> 'contacts') c where c ->> 'id' = :'la_paused'),
  'campaign paused', 'the paused campaign''s contact says so'
);
select is(
  (select count(*)::integer from contact_wait_details(tests.wednesday_noon(), '+12135550100')), 2,
  'contact_wait_details() for one number: its contacts only'
);

-- At 16:00 UTC (08:00 in Los Angeles) the contact is due; once called, its attempt is in the story.
select is(
  (select c -> 'why_not_now' ->> 'reason'
     from jsonb_array_elements(contact_story('+12135550100', p_now => tests.wednesday_noon() + interval '4 hours') -> 'contacts') c
    where c ->> 'id' = :'la'),
  'due', 'at 08:00 there, nothing holds it back'
);
select tests.launch(tests.wednesday_noon() + interval '4 hours');
select count(*) from claim_queued_calls(10, null, tests.wednesday_noon() + interval '4 hours');
create temp table later on commit drop as
  select c from jsonb_array_elements(contact_story(null, :la, tests.wednesday_noon() + interval '4 hours 1 minute') -> 'contacts') c
   where c ->> 'id' = :'la';
select is((select c -> 'why_not_now' from later), 'null'::jsonb, 'in a call: not waiting, so no why-not-now');
select results_eq(
  $$select c -> 'calls' -> 0 ->> 'status', c -> 'calls' -> 0 -> 'evidence' -> 'zones' from later$$,
  $$values ('dialing', '["America/Los_Angeles"]'::jsonb)$$,
  'its attempt, with the evidence of what allowed it'
);
select is(contact_story(null, 999999), null, 'an id that names no contact: null');

select * from finish();
rollback;
