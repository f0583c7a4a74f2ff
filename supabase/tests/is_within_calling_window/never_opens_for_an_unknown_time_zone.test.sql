-- An unknown time zone never dials: is_within_calling_window() gives false rather than raising,
-- and contacts and campaigns refuse unknown zones and POSIX offset strings up front.
begin;
\ir ../_helpers.psql
select plan(6);

select ok(
  not public.is_within_calling_window('2026-12-02 12:00+00', 'Mars/Olympus_Mons', '00:00', '23:59', '{1,2,3,4,5,6,7}'),
  'an unknown zone name gives false, whatever the window'
);
select ok(
  not public.is_within_calling_window('2026-12-02 12:00+00', 'Not a zone!', '00:00', '23:59', '{1,2,3,4,5,6,7}'),
  'a malformed zone name gives false'
);
select ok(is_valid_time_zone('Europe/Paris') and not is_valid_time_zone('UTC+5') and not is_valid_time_zone('Mars/Olympus_Mons'),
          'is_valid_time_zone() accepts IANA names, refuses POSIX offsets and unknown names');

select tests.create_campaign() as campaign_id \gset
select throws_ok(
  format($$insert into contacts (campaign_id, phone, time_zone) values (%s, '+15550001234', 'Mars/Olympus_Mons')$$, :campaign_id),
  '23514',
  'new row for relation "contacts" violates check constraint "contacts_time_zone_is_valid"',
  'a contact cannot be given an unknown zone'
);
select throws_ok(
  $$insert into campaigns (name, time_zone) values ('posix', 'UTC+5')$$,
  '23514',
  'new row for relation "campaigns" violates check constraint "campaigns_time_zone_is_valid"',
  'a campaign cannot be given a POSIX offset zone'
);
select throws_ok(
  $$insert into contacts (campaign_id, phone) values (1, '0033612345678')$$,
  '23514',
  'new row for relation "contacts" violates check constraint "contacts_phone_is_e164"',
  'a phone number that is not E.164 is refused'
);

select * from finish();
rollback;
