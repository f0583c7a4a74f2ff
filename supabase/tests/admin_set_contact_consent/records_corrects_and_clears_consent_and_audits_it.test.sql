-- admin_set_contact_consent() sets the consent columns named in its fields (null clears one), keeps
-- the others, refuses evidence the contacts table refuses (23514), answers null for a contact of
-- another campaign, and records each change in operator_audit_log with the evidence before and
-- after. The clock: the suite's Wednesday, 12:00 UTC.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(name => 'a') as campaign_id \gset
select tests.create_campaign(name => 'b') as other_id \gset
select tests.add_contact(:campaign_id, '+15550000001') as contact_id \gset

select is(
  admin_set_contact_consent(:campaign_id, :contact_id,
                            '{"consent_at": "2026-11-30T09:15:00Z", "consent_method": "verbal", "consent_source": "call on 30 Nov, script v3"}',
                            'admin_token', null, tests.wednesday_noon())
    - array['id', 'campaign_id', 'phone', 'status'],
  '{"consent_at": "2026-11-30T09:15:00+00:00", "consent_method": "verbal", "consent_source": "call on 30 Nov, script v3", "consent_expires_at": null}'::jsonb,
  'records the evidence and answers it'
);
select is(
  (admin_set_contact_consent(:campaign_id, :contact_id, '{"consent_expires_at": "2027-11-30T09:15:00Z"}',
                             'admin_token', null, tests.wednesday_noon() + interval '1 minute')) ->> 'consent_method',
  'verbal', 'an edit of one field keeps the others'
);
select results_eq(
  format('select consent_expires_at, updated_at from contacts where id = %s', :contact_id),
  $$values (timestamptz '2027-11-30 09:15:00+00', tests.wednesday_noon() + interval '1 minute')$$,
  '... and sets the one named, at the given clock'
);
select throws_ok(
  format($$select admin_set_contact_consent(%s, %s, '{"consent_expires_at": "2026-11-01T00:00:00Z"}', 'admin_token')$$,
         :campaign_id, :contact_id),
  '23514', null, 'an expiry before the consent is refused by the table'
);
select throws_ok(
  format($$select admin_set_contact_consent(%s, %s, '{"consent_at": null}', 'admin_token')$$, :campaign_id, :contact_id),
  '23514', null, 'clearing the time alone leaves a method without a time: refused'
);
select is(admin_set_contact_consent(:other_id, :contact_id, '{"consent_source": "x"}', 'admin_token'), null,
          'a contact of another campaign: null, nothing changed');
select is(
  (admin_set_contact_consent(:campaign_id, :contact_id,
                             '{"consent_at": null, "consent_method": null, "consent_source": null, "consent_expires_at": null}',
                             'admin_token', null, tests.wednesday_noon() + interval '2 minutes')) ->> 'consent_at',
  null, 'all four cleared together: no consent'
);
select results_eq(
  $$select action, subject, before ->> 'consent_method', after ->> 'consent_method' from operator_audit_log order by id$$,
  format($$values ('contact.consent', 'contact %1$s of campaign %2$s', null, 'verbal'),
                  ('contact.consent', 'contact %1$s of campaign %2$s', 'verbal', 'verbal'),
                  ('contact.consent', 'contact %1$s of campaign %2$s', 'verbal', null)$$, :contact_id, :campaign_id),
  'each change audited with the evidence before and after; refusals leave no row'
);

select * from finish();
rollback;
