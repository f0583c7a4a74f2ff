-- Invariant 3, calling window: a contact's own time zone overrides its campaign's; a campaign whose
-- window is closed still calls contacts for whom it is open, and says why it reserved nothing.
-- The clock: Wednesday 12:00 UTC = 13:00 Paris = 21:00 Tokyo = 04:00 Los Angeles.
begin;
\ir ../_helpers.psql
select plan(7);

-- Window 09:00-20:00 Monday to Friday, campaign zone UTC (open at 12:00 UTC).
select tests.create_campaign(name => 'utc', cap => 10) as utc_id \gset
select tests.add_contacts(:utc_id, 1) as utc_plain \gset
select tests.add_contacts(:utc_id, 1, 'Europe/Paris') as utc_paris \gset
select tests.add_contacts(:utc_id, 1, 'Asia/Tokyo') as utc_tokyo \gset
select tests.add_contacts(:utc_id, 1, 'America/Los_Angeles') as utc_la \gset

-- Same window, campaign zone Asia/Tokyo (closed at 21:00 Tokyo).
select tests.create_campaign(name => 'tokyo', cap => 10, time_zone => 'Asia/Tokyo') as tokyo_id \gset
select tests.add_contacts(:tokyo_id, 1) as tokyo_plain \gset
select tests.add_contacts(:tokyo_id, 1, 'Europe/London') as tokyo_london \gset

-- Campaign in Asia/Tokyo, no contact with a zone of its own: nothing can be called.
select tests.create_campaign(name => 'tokyo only', time_zone => 'Asia/Tokyo') as closed_id \gset
select tests.add_contacts(:closed_id, 2);

create temp table launched on commit drop as select * from launch_due_calls(tests.wednesday_noon());

select set_eq(
  format('select contact_id from calls where campaign_id = %s', :utc_id),
  format('values (%s::bigint), (%s)', :utc_plain, :utc_paris),
  'UTC campaign: the contact without a zone (12:00 UTC) and the one in Paris (13:00) are called; Tokyo (21:00) and Los Angeles (04:00) are not'
);
select set_eq(
  format('select contact_id from calls where campaign_id = %s', :tokyo_id),
  format('values (%s::bigint)', :tokyo_london),
  'Tokyo campaign, closed at 21:00 Tokyo: only the contact in London (12:00) is called'
);
select is((select outcome from launched where campaign_id = :tokyo_id), 'served'::launch_outcome,
          'a campaign that reserved calls was served');
select results_eq(
  format('select reserved, outcome from launched where campaign_id = %s', :closed_id),
  $$values (0, 'outside_window'::launch_outcome)$$,
  'a campaign that reserved nothing because its window is closed says so'
);
select is((select count(*)::integer from contacts where status = 'pending'), 5,
          'the contacts outside their window stay pending for a later tick');

-- 16 hours later it is 04:00 UTC, 13:00 Tokyo (Thursday), 20:00 Los Angeles (Wednesday).
select tests.end_active_calls(id, 'completed', tests.wednesday_noon() + interval '1 hour') from campaigns;
select tests.launch(tests.wednesday_noon() + interval '16 hours');
select set_eq(
  $$select ct.campaign_id, ct.time_zone from calls cl join contacts ct on ct.id = cl.contact_id
     where cl.queued_at = tests.wednesday_noon() + interval '16 hours'$$,
  format($$values (%s::bigint, 'Asia/Tokyo'), (%s, null), (%s, null)$$, :utc_id, :tokyo_id, :closed_id),
  'at 04:00 UTC: the Tokyo contact of the UTC campaign and the Tokyo campaigns'' own contacts are called; Los Angeles (20:00, the window''s end) is not'
);
select is((select count(*)::integer from calls where queued_at = tests.wednesday_noon() + interval '16 hours'), 4,
          'four calls in all: the Tokyo contact and the three contacts of the two Tokyo campaigns');

select * from finish();
rollback;
