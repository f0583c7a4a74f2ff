-- A campaign with requires_consent reserves a contact only while its consent is valid at the
-- reservation instant: given at or before p_now, and not expired (consent_expires_at null or after
-- p_now). Every time below is relative to the suite's clock, Wednesday 2 December 2026 12:00 UTC.
begin;
\ir ../_helpers.psql
select plan(11);

create temp table t on commit drop as select tests.wednesday_noon() as now;

select tests.create_campaign(name => 'consent', cap => 20) as consent_id \gset
update campaigns set requires_consent = true where id = :consent_id;
select tests.add_contact(:consent_id, '+15550000001') as given_yesterday,
       tests.add_contact(:consent_id, '+15550000002') as never_given,
       tests.add_contact(:consent_id, '+15550000003') as given_later,
       tests.add_contact(:consent_id, '+15550000004') as expired,
       tests.add_contact(:consent_id, '+15550000005') as expires_now,
       tests.add_contact(:consent_id, '+15550000006') as given_now,
       tests.add_contact(:consent_id, '+15550000007') as expires_soon \gset
update contacts set consent_at = t.now - interval '1 day', consent_method = 'web_form',
                    consent_source = 'https://example.test/signup'
  from t where id = :given_yesterday;
update contacts set consent_at = t.now + interval '1 hour', consent_method = 'verbal' from t where id = :given_later;
update contacts set consent_at = t.now - interval '30 days', consent_method = 'written',
                    consent_expires_at = t.now - interval '1 minute'
  from t where id = :expired;
update contacts set consent_at = t.now - interval '30 days', consent_method = 'sms', consent_expires_at = t.now
  from t where id = :expires_now;
update contacts set consent_at = t.now, consent_method = 'email' from t where id = :given_now;
update contacts set consent_at = t.now - interval '1 day', consent_method = 'other',
                    consent_expires_at = t.now + interval '1 minute'
  from t where id = :expires_soon;

-- The same kind of contact in a campaign that does not require consent.
select tests.create_campaign(name => 'no consent needed') as open_id \gset
select tests.add_contact(:open_id, '+15550000008') as open_contact \gset

-- Outside its own window (12:00 UTC is 21:00 in Tokyo) a campaign serves only contacts with a zone
-- of their own, through the reservation's second branch: the consent rule holds there too.
select tests.create_campaign(name => 'own zones', time_zone => 'Asia/Tokyo') as zoned_id \gset
update campaigns set requires_consent = true where id = :zoned_id;
select tests.add_contact(:zoned_id, '+15550000009', 'UTC') as zoned_with,
       tests.add_contact(:zoned_id, '+15550000010', 'UTC') as zoned_without \gset
update contacts set consent_at = t.now - interval '1 day', consent_method = 'verbal' from t where id = :zoned_with;

select is(tests.launch((select now from t)), 5, 'five contacts reserved across the three campaigns');

select results_eq(
  format('select contact_id from calls where campaign_id = %s order by contact_id', :consent_id),
  format('values (%s::bigint), (%s), (%s)', :given_yesterday, :given_now, :expires_soon),
  'requires_consent: consent given yesterday, given at the instant itself, and expiring a minute later are reserved'
);
select is((select status::text from contacts where id = :never_given), 'pending', 'no consent recorded: stays pending');
select is((select status::text from contacts where id = :given_later), 'pending', 'consent given only after p_now: stays pending');
select is((select status::text from contacts where id = :expired), 'pending', 'consent expired a minute before: stays pending');
select is((select status::text from contacts where id = :expires_now), 'pending',
          'consent expiring at p_now itself is no longer valid: stays pending');
select results_eq(
  format('select contact_id from calls where campaign_id in (%s, %s) order by contact_id', :open_id, :zoned_id),
  format('values (%s::bigint), (%s)', :open_contact, :zoned_with),
  'a campaign without requires_consent calls without consent; outside the campaign''s window the rule holds too'
);
select is_empty($$select * from tests.invariant_violations(tests.wednesday_noon())$$,
                'no invariant broken, consent included');

-- Contacts held for consent keep the campaign open: consent can still be recorded.
select tests.end_active_calls(:consent_id, 'completed', (select now + interval '5 minutes' from t));
select tests.launch((select now + interval '10 minutes' from t));
select is((select status::text from campaigns where id = :consent_id), 'RUNNING',
          'a campaign whose remaining contacts lack consent is not completed');

update contacts set consent_at = t.now + interval '15 minutes', consent_method = 'verbal',
                    consent_expires_at = null
  from t where id in (:expired, :expires_now);
select is(tests.launch((select now + interval '20 minutes' from t)), 2,
          'once consent is renewed the next reservation calls them (consent given from 13:00 still waits)');
select is(tests.launch((select now + interval '1 hour' from t)), 1, '... and from 13:00 on, that one too');

select * from finish();
rollback;
