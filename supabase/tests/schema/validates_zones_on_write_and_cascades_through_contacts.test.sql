-- Time zones are validated when they are written (insert, or an update that sets the zone), by
-- triggers that raise what the CHECK constraints they replaced raised; other updates (the tick
-- stamps last_served_at on every campaign it serves) skip the check. Calls reference their
-- contact only: deleting a campaign still removes its contacts and their calls.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign() as campaign_id \gset
-- Due a day before the suite's clock (never now(): the reservation below runs at a fixed instant).
insert into contacts (campaign_id, phone, time_zone, next_attempt_at)
  values (:campaign_id, '+15550001111', 'Asia/Tokyo', tests.wednesday_noon() - interval '1 day')
  returning id as contact_id \gset

select throws_ok(
  format($$update campaigns set time_zone = 'Mars/Olympus_Mons' where id = %s$$, :campaign_id),
  '23514',
  'new row for relation "campaigns" violates check constraint "campaigns_time_zone_is_valid"',
  'an update that sets an unknown campaign zone is refused'
);
select throws_ok(
  format($$update contacts set time_zone = 'UTC+5' where id = %s$$, :contact_id),
  '23514',
  'new row for relation "contacts" violates check constraint "contacts_time_zone_is_valid"',
  'an update that sets a POSIX offset as a contact zone is refused'
);
select lives_ok(
  format($$update contacts set time_zone = null where id = %s$$, :contact_id),
  'a contact may drop its own zone (it then uses the campaign''s)'
);
select lives_ok(
  format($$update campaigns set time_zone = 'America/New_York', last_served_at = now() where id = %s$$, :campaign_id),
  'a valid zone is accepted'
);

select is(
  (select count(*)::integer from pg_trigger
    where tgname in ('campaigns_time_zone_is_valid', 'contacts_time_zone_is_valid')
      and tgtype & 16 = 16   -- fires on UPDATE
      and tgattr::text <> ''), -- ... only when its column list (time_zone) is set
  2,
  'both zone triggers fire on updates of time_zone only'
);

select count(*) as n from launch_due_calls(tests.wednesday_noon() + interval '5 hours') \gset
select is(
  (select count(*)::integer from calls where campaign_id = :campaign_id),
  1,
  'the tick reserved a call for the contact'
);
delete from campaigns where id = :campaign_id;
select is(
  (select count(*)::integer from calls where contact_id = :contact_id),
  0,
  'deleting the campaign removed its contact and the contact''s calls'
);

select * from finish();
rollback;
