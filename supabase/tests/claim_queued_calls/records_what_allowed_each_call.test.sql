-- Evidence with every call: claim_queued_calls() stores on each call it claims what allowed it
-- (calls.dial_evidence): when it was checked, the zones the calling-hours rules were checked in and
-- where they came from (the number's prefix, the contact's typed zone, the campaign's zone), and the
-- enabled rules that match the number. A released call has none: it was never dialled.
begin;
\ir ../_helpers.psql
select plan(8);

-- The federal rule (every number) and a rule of one area code; a disabled rule is not evidence.
delete from calling_hours_rules;
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('', '08:00', '21:00', 'federal')
  returning id as federal \gset
insert into calling_hours_rules (prefix, start_time, end_time, note) values ('+1212', '08:00', '20:00', 'state')
  returning id as nyc \gset
insert into calling_hours_rules (prefix, start_time, end_time, enabled, note) values ('+1', '10:00', '11:00', false, 'off');

select tests.create_campaign(cap => 10, time_zone => 'Europe/London', window_start => '00:00', window_end => '24:00',
                             window_days => '{1,2,3,4,5,6,7}') as campaign_id \gset
select tests.add_contact(:campaign_id, '+12125550100') as new_york \gset
select tests.add_contact(:campaign_id, '+13125550100', 'America/Chicago') as chicago \gset
select tests.add_contact(:campaign_id, '+99955501000') as nowhere \gset
select tests.add_contact(:campaign_id, '+12125550199') as listed \gset
-- Wednesday 18:00 UTC: 13:00 in New York, 12:00 in Chicago, 18:00 in London.
select tests.launch(tests.wednesday_noon() + interval '6 hours');
insert into do_not_call_numbers (phone, reason) values ('+12125550199', 'asked');
select count(*) from claim_queued_calls(10, null, tests.wednesday_noon() + interval '6 hours 1 minute');

select results_eq(
  format($$select dial_evidence - 'rules' from calls where contact_id = %s$$, :new_york),
  $$values (jsonb_build_object('checked_at', tests.wednesday_noon() + interval '6 hours 1 minute',
                               'zone_source', 'number', 'number_prefix', '+1212', 'zones', '["America/New_York"]'::jsonb))$$,
  'a New York number: checked when claimed, in its prefix''s zone'
);
select is(
  (select dial_evidence -> 'rules' from calls where contact_id = :new_york),
  jsonb_build_array(jsonb_build_object('id', :federal, 'prefix', '', 'from', '08:00:00', 'until', '21:00:00'),
                    jsonb_build_object('id', :nyc, 'prefix', '+1212', 'from', '08:00:00', 'until', '20:00:00')),
  'with the enabled rules that match it (the every-number rule and its area code''s), not the disabled one'
);
select results_eq(
  format($$select dial_evidence ->> 'zone_source', dial_evidence -> 'zones' from calls where contact_id = %s$$, :chicago),
  $$values ('contact', '["America/Chicago"]'::jsonb)$$,
  'a typed zone among the number''s zones: the contact''s'
);
select is(
  (select jsonb_array_length(dial_evidence -> 'rules') from calls where contact_id = :chicago), 1,
  'a Chicago number matches the every-number rule only'
);
select results_eq(
  format($$select dial_evidence ->> 'zone_source', dial_evidence -> 'zones', dial_evidence ->> 'number_prefix' from calls where contact_id = %s$$, :nowhere),
  $$values ('campaign', '["Europe/London"]'::jsonb, null::text)$$,
  'a number without zone data: the campaign''s zone, and the evidence says so'
);
select results_eq(
  format($$select status, dial_evidence from calls where contact_id = %s$$, :listed),
  $$values ('canceled'::call_status, null::jsonb)$$,
  'a call released at the claim (the number was listed meanwhile) has no evidence: it was never dialled'
);
select is((select count(*)::integer from calls where status = 'dialing' and dial_evidence is null), 0,
          'every claimed call has its evidence');
select is((select count(*)::integer from calls where status = 'queued' and dial_evidence is not null), 0,
          'a call not claimed yet has none');

select * from finish();
rollback;
