-- Why not now, consent: in a campaign with requires_consent, contact_wait_reasons counts the
-- contacts without valid consent at now() as 'no consent' (none recorded, or given only later:
-- opens_at is the earliest such moment) and 'consent expired' (detail: when, in the campaign's
-- zone). The view runs on the wall clock, so every time here is relative to now(); the campaign's
-- window is open all day every day and the calling-hours rules are off.
begin;
\ir ../_helpers.psql
select plan(6);

update calling_hours_rules set enabled = false;
create function pg_temp.campaign(p_name text, p_consent boolean) returns bigint language plpgsql as $$
declare
  v_id bigint := tests.create_campaign(name => p_name, window_start => '00:00', window_end => '24:00',
                                       window_days => '{1,2,3,4,5,6,7}', time_zone => 'Europe/Paris');
begin
  update campaigns set requires_consent = p_consent where id = v_id;
  return v_id;
end;
$$;
create function pg_temp.contact(p_campaign bigint, p_phone text, p_at timestamptz, p_expires timestamptz)
returns bigint language plpgsql as $$
declare
  v_id bigint := tests.add_contact(p_campaign, p_phone, next_attempt_at => now() - interval '1 minute');
begin
  update contacts set consent_at = p_at, consent_method = case when p_at is not null then 'verbal' end,
                      consent_expires_at = p_expires
   where id = v_id;
  return v_id;
end;
$$;
-- An instant as the detail shows it: the campaign's local time, to the minute.
create function pg_temp.paris(p_at timestamptz) returns text language sql as $$
  select to_char(p_at at time zone 'Europe/Paris', 'YYYY-MM-DD HH24:MI')
$$;

select pg_temp.campaign('one expired', true) as one_id \gset
select pg_temp.contact(:one_id, '+15550000001', now() - interval '400 days', now() - interval '10 days');
select pg_temp.contact(:one_id, '+15550000002', now() - interval '1 day', null);

select pg_temp.campaign('mixed', true) as mixed_id \gset
select pg_temp.contact(:mixed_id, '+15550000003', null, null);
select pg_temp.contact(:mixed_id, '+15550000004', null, null);
select pg_temp.contact(:mixed_id, '+15550000005', now() + interval '2 days', null);
select pg_temp.contact(:mixed_id, '+15550000006', now() - interval '400 days', now() - interval '20 days');
select pg_temp.contact(:mixed_id, '+15550000007', now() - interval '400 days', now() - interval '5 days');

select pg_temp.campaign('no requirement', false) as free_id \gset
select pg_temp.contact(:free_id, '+15550000008', null, null);

select results_eq(
  $$select campaign_name, reason, contacts::integer from contact_wait_reasons order by campaign_id, reason$$,
  $$values ('one expired', 'consent expired', 1), ('one expired', 'due', 1),
           ('mixed', 'consent expired', 2), ('mixed', 'no consent', 3),
           ('no requirement', 'due', 1)$$,
  'held for consent only where the campaign requires it; valid consent is due'
);
select is((select detail from contact_wait_reasons where campaign_name = 'one expired' and reason = 'consent expired'),
          'expired ' || pg_temp.paris(now() - interval '10 days') || ' Europe/Paris',
          'one contact: when its consent expired, in the campaign''s zone');
select is((select detail from contact_wait_reasons where campaign_name = 'mixed' and reason = 'consent expired'),
          'expired between ' || pg_temp.paris(now() - interval '20 days') || ' and ' ||
            pg_temp.paris(now() - interval '5 days') || ' Europe/Paris',
          'several: the earliest and the latest');
select is((select opens_at from contact_wait_reasons where campaign_name = 'mixed' and reason = 'no consent'),
          now() + interval '2 days', 'no consent: until the earliest consent recorded as given later');
select is((select detail from contact_wait_reasons where campaign_name = 'mixed' and reason = 'no consent'),
          'consent given only from ' || pg_temp.paris(now() + interval '2 days') || ' Europe/Paris (the earliest)',
          '... named in the detail');
delete from contacts where phone = '+15550000005';
select results_eq(
  $$select detail, opens_at from contact_wait_reasons where campaign_name = 'mixed' and reason = 'no consent'$$,
  $$values ('no consent recorded', null::timestamptz)$$,
  'none recorded at all: said so, and no opening'
);

select * from finish();
rollback;
