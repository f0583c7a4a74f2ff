-- Consent evidence on a contact is whole or absent: a time and a method together (the method one
-- of web_form, verbal, written, sms, email, other), a source (1 to 1000 characters) and an expiry
-- only with them, the expiry after the consent. A campaign's requires_consent is off by default.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign() as campaign_id \gset
select tests.add_contact(:campaign_id, '+15550000001') as contact_id \gset
create temp table t on commit drop as select tests.wednesday_noon() as now;

select is((select requires_consent from campaigns where id = :campaign_id), false, 'requires_consent is off by default');

select lives_ok(
  format($$update contacts set consent_at = %L, consent_method = 'web_form',
                               consent_source = 'https://example.test/optin, box ticked', consent_expires_at = %L
            where id = %s$$, tests.wednesday_noon(), tests.wednesday_noon() + interval '1 year', :contact_id),
  'full evidence: when, how, source, expiry'
);
select throws_ok(
  format($$update contacts set consent_method = 'carrier pigeon' where id = %s$$, :contact_id),
  '23514', null, 'an unknown method is refused'
);
select throws_ok(
  format($$update contacts set consent_method = null where id = %s$$, :contact_id),
  '23514', null, 'a time without a method is refused'
);
select throws_ok(
  format($$update contacts set consent_source = repeat('x', 1001) where id = %s$$, :contact_id),
  '23514', null, 'a source over 1000 characters is refused'
);
select throws_ok(
  format($$update contacts set consent_source = '  ' where id = %s$$, :contact_id),
  '23514', null, 'a blank source is refused (null means none)'
);
select throws_ok(
  format($$update contacts set consent_expires_at = consent_at where id = %s$$, :contact_id),
  '23514', null, 'an expiry not after the consent is refused'
);
select throws_ok(
  format($$update contacts set consent_at = null, consent_method = null where id = %s$$, :contact_id),
  '23514', null, 'a source or an expiry without a consent time is refused'
);
select lives_ok(
  format($$update contacts set consent_at = null, consent_method = null, consent_source = null,
                               consent_expires_at = null where id = %s$$, :contact_id),
  'no evidence at all is fine'
);

select * from finish();
rollback;
