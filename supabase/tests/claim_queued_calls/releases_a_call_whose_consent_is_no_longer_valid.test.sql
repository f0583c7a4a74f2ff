-- Consent at the moment of dialling: a call of a campaign with requires_consent, reserved while the
-- contact's consent was valid, is released by claim_queued_calls() (canceled, released_at set, no
-- attempt counted, the contact back to pending) when that consent expired before the claim, or was
-- withdrawn (the evidence removed). The clock: reserved at 12:00 UTC on the suite's Wednesday,
-- claimed at 12:02.
begin;
\ir ../_helpers.psql
select plan(7);

create temp table t on commit drop as
  select tests.wednesday_noon() as reserved_at, tests.wednesday_noon() + interval '2 minutes' as claimed_at;

select tests.create_campaign(name => 'consent', cap => 10) as consent_id \gset
update campaigns set requires_consent = true where id = :consent_id;
select tests.add_contact(:consent_id, '+15550000001') as lasting,
       tests.add_contact(:consent_id, '+15550000002') as expiring,
       tests.add_contact(:consent_id, '+15550000003') as withdrawn,
       tests.add_contact(:consent_id, '+15550000004') as expires_at_claim \gset
update contacts set consent_at = t.reserved_at - interval '1 day', consent_method = 'web_form' from t
 where campaign_id = :consent_id;
update contacts set consent_expires_at = t.reserved_at + interval '1 minute' from t where id = :expiring;
update contacts set consent_expires_at = t.claimed_at from t where id = :expires_at_claim;

select is(tests.launch((select reserved_at from t)), 4, 'all four reserved while their consent is valid');

update contacts set consent_at = null, consent_method = null where id = :withdrawn;

create temp table claimed on commit drop as
  select * from claim_queued_calls(100, null, (select claimed_at from t));

select results_eq(
  'select contact_id, release_reason from claimed order by contact_id',
  format($$values (%s::bigint, null::text), (%s, 'no valid consent'), (%s, 'no valid consent'), (%s, 'no valid consent')$$,
         :lasting, :expiring, :withdrawn, :expires_at_claim),
  'consent expired a minute before, withdrawn, or expiring at the claim itself: released with the reason'
);
select results_eq(
  format('select status::text, error from calls where contact_id <> %s order by contact_id', :lasting),
  $$values ('canceled', 'released before dialling: no valid consent'),
           ('canceled', 'released before dialling: no valid consent'),
           ('canceled', 'released before dialling: no valid consent')$$,
  'the released calls are canceled, saying why'
);
select results_eq(
  format('select status::text, attempts, last_error from contacts where id <> %s order by id', :lasting),
  $$values ('pending', 0, 'call released before dialling: no valid consent'),
           ('pending', 0, 'call released before dialling: no valid consent'),
           ('pending', 0, 'call released before dialling: no valid consent')$$,
  'their contacts go back to pending, no attempt counted'
);
select is((select status::text from calls where contact_id = :lasting), 'dialing', 'the call with lasting consent is dialled');
select is_empty(
  $$select * from tests.invariant_violations((select claimed_at from t))$$,
  'no call dialled without valid consent'
);

-- The same call in a campaign that does not require consent is dialled.
update calls set status = 'queued', released_at = null, ended_at = null, error = null
 where contact_id = :expiring;
update contacts set status = 'in_progress' where id = :expiring;
update campaigns set requires_consent = false where id = :consent_id;
select results_eq(
  $$select contact_id, release_reason from claim_queued_calls(100, null, (select claimed_at + interval '1 second' from t))$$,
  format('values (%s::bigint, null::text)', :expiring),
  'without requires_consent an expired consent does not hold a call back'
);

select * from finish();
rollback;
