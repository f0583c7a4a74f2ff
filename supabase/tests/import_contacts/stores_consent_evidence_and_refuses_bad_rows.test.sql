-- import_contacts() takes the consent columns of each row (consent_at, consent_method,
-- consent_source, consent_expires_at, all optional) and stores them; a row whose evidence the
-- contacts table would refuse comes back as bad_consent and is not inserted, the rest of the batch
-- is. The clock: the suite's Wednesday, 12:00 UTC.
begin;
\ir ../_helpers.psql
select plan(4);

select tests.create_campaign() as campaign_id \gset

create temp table out on commit drop as
  select * from import_contacts(:campaign_id, jsonb_build_array(
    jsonb_build_object('line', 2, 'phone', '+15550000001', 'consent_at', '2026-11-30T09:15:00Z',
                       'consent_method', 'web_form', 'consent_source', 'https://example.test/optin',
                       'consent_expires_at', '2027-11-30T09:15:00Z'),
    jsonb_build_object('line', 3, 'phone', '+15550000002'),
    jsonb_build_object('line', 4, 'phone', '+15550000003', 'consent_at', '2026-11-30T09:15:00Z'),
    jsonb_build_object('line', 5, 'phone', '+15550000004', 'consent_at', '2026-11-30T09:15:00Z',
                       'consent_method', 'fax'),
    jsonb_build_object('line', 6, 'phone', '+15550000005', 'consent_at', '2026-11-30T09:15:00Z',
                       'consent_method', 'sms', 'consent_expires_at', '2026-11-29T09:15:00Z'),
    jsonb_build_object('line', 7, 'phone', '+15550000006', 'consent_source', 'a call last week'),
    jsonb_build_object('line', 8, 'phone', '+15550000007', 'consent_at', '2026-11-30T09:15:00Z',
                       'consent_method', 'verbal', 'consent_source', repeat('x', 1001))
  ), tests.wednesday_noon());

select results_eq(
  'select line, outcome from out order by line',
  $$values (2, 'imported'), (3, 'imported'), (4, 'bad_consent'), (5, 'bad_consent'), (6, 'bad_consent'),
           (7, 'bad_consent'), (8, 'bad_consent')$$,
  'rows with whole evidence or none are imported; time without method, unknown method, expiry before consent, source without time, source too long: bad_consent'
);
select results_eq(
  $$select consent_at, consent_method, consent_source, consent_expires_at from contacts where phone = '+15550000001'$$,
  $$values (timestamptz '2026-11-30 09:15:00+00', 'web_form', 'https://example.test/optin', timestamptz '2027-11-30 09:15:00+00')$$,
  'the evidence is stored as given'
);
select results_eq(
  $$select consent_at, consent_method from contacts where phone = '+15550000002'$$,
  $$values (null::timestamptz, null::text)$$,
  'a row without consent columns has none'
);
select is((select count(*)::integer from contacts), 2, 'refused rows are not inserted');

select * from finish();
rollback;
