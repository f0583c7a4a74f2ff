-- Why not now applies the calling-hours rules as the reservation does: only those covering the
-- campaign's purpose, all of them for a campaign without one. The view runs on the wall clock: the
-- rule here is set relative to now() in Pacific/Honolulu (no DST), every other rule is turned off,
-- the campaigns' windows are open around the clock.
begin;
\ir ../_helpers.psql
select plan(6);

update calling_hours_rules set enabled = false;
create temp table h on commit drop as
  select ((now() at time zone 'Pacific/Honolulu')::time + interval '1 hour')::time as opens,
         ((now() at time zone 'Pacific/Honolulu')::time + interval '2 hours')::time as closes;
insert into calling_hours_rules (prefix, start_time, end_time, purposes, note)
  select '+1808', h.opens, h.closes, '{telemarketing}', 'test: Hawaii telemarketing, from an hour from now for an hour' from h;

select tests.create_campaign(name => 'informational', window_start => '00:00', window_end => '23:59:59',
                             window_days => '{1,2,3,4,5,6,7}') as info \gset
update campaigns set purpose = 'informational' where id = :info;
select tests.add_contact(:info, '+18085550101', next_attempt_at => now() - interval '1 minute');
select tests.create_campaign(name => 'telemarketing', window_start => '00:00', window_end => '23:59:59',
                             window_days => '{1,2,3,4,5,6,7}') as tm \gset
update campaigns set purpose = 'telemarketing' where id = :tm;
select tests.add_contact(:tm, '+18085550102', next_attempt_at => now() - interval '1 minute');
select tests.create_campaign(name => 'no purpose', window_start => '00:00', window_end => '23:59:59',
                             window_days => '{1,2,3,4,5,6,7}') as none \gset
select tests.add_contact(:none, '+18085550103', next_attempt_at => now() - interval '1 minute');

select is((select reason from contact_wait_reasons where campaign_id = :info), 'due',
          'informational: the telemarketing rule does not hold it');
select is((select reason from contact_wait_reasons where campaign_id = :tm), 'quiet hours',
          'telemarketing: quiet hours');
select ok((select opens_at > now() and opens_at <= now() + interval '61 minutes'
             from contact_wait_reasons where campaign_id = :tm),
          'telemarketing: opens when the rule opens, within the hour');
select is((select reason from contact_wait_reasons where campaign_id = :none), 'quiet hours',
          'no purpose: every rule applies');

-- A rule's cap (max_calls_per_24h) holds the numbers it matches for the purposes it covers: an
-- Alaska rule open all day, one telemarketing call per 24 hours; the number was called a minute ago.
insert into calling_hours_rules (prefix, start_time, end_time, purposes, max_calls_per_24h, note)
values ('+1907', '00:00', '24:00', '{telemarketing}', 1, 'test: Alaska, one telemarketing call a day');
select tests.add_contact(:tm, '+19075550100', next_attempt_at => now() - interval '1 minute') as called \gset
select tests.launch(now() - interval '1 minute');
select tests.end_active_calls(:tm, 'busy', now());
update contacts set next_attempt_at = now() - interval '1 minute' where id = :called;
select tests.add_contact(:info, '+19075550100', next_attempt_at => now() - interval '1 minute');
select is((select reason from contact_wait_reasons where campaign_id = :tm and reason = 'frequency cap'), 'frequency cap',
          'telemarketing: the Alaska number is held by the rule''s cap');
-- (the informational campaign's Hawaii contact was reserved by that launch: it is in a call.)
select results_eq($$select reason, contacts from contact_wait_reasons where campaign_id = $$ || :info,
                  $$values ('due'::text, 1::bigint)$$,
                  'informational: the same number is due (the rule does not cover it)');

select * from finish();
rollback;
