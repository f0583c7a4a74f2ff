-- tests.invariant_violations(), the one invariant checker of the pgTAP, vitest and benchmark
-- suites: silent on a healthy state, and one row naming the invariant for each thing broken by hand.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(cap => 3) as campaign_id \gset
select tests.add_contacts(:campaign_id, 5);
select tests.launch(tests.wednesday_noon());
select is_empty('select * from tests.invariant_violations(tests.wednesday_noon(), false)',
                'a tick''s work breaks nothing');

update campaigns set max_concurrent_calls = 2 where id = :campaign_id;
select results_eq(
  'select invariant from tests.invariant_violations()',
  $$values ('inv1: campaign over its cap')$$,
  'a campaign holding more active calls than its cap'
);
update campaigns set max_concurrent_calls = 3 where id = :campaign_id;

update scheduler_settings set global_max_concurrent_calls = 1;
select results_eq(
  'select invariant from tests.invariant_violations()',
  $$values ('inv1: over the global cap')$$,
  'more active calls than the global cap'
);
update scheduler_settings set global_max_concurrent_calls = 100;

update contacts set status = 'in_progress' where id = (select min(id) from contacts where status = 'pending');
select results_eq(
  'select invariant from tests.invariant_violations()',
  $$values ('inv2: in_progress exactly when a call is active')$$,
  'a contact in progress without an active call'
);
update contacts set status = 'pending' where status = 'in_progress' and not exists (
  select 1 from calls cl where cl.contact_id = contacts.id and cl.status = 'queued');

update contacts set attempts = 4 where id = (select min(id) from contacts where status = 'pending');
select results_eq(
  'select invariant from tests.invariant_violations()',
  $$values ('inv3: attempts within max_attempts')$$,
  'a contact with more attempts than max_attempts'
);
update contacts set attempts = 0;

update calls set queued_at = tests.wednesday_noon(), dispatch_after = tests.wednesday_noon();
update campaigns set window_days = '{6}' where id = :campaign_id;
select is((select count(*)::integer from tests.invariant_violations(tests.wednesday_noon())
            where invariant = 'inv3: reserved inside the calling window'), 3,
          'calls reserved at p_now outside the window (one row each)');
update campaigns set window_days = '{1,2,3,4,5}' where id = :campaign_id;

update calling_hours_rules set start_time = '13:00' where prefix = '';
select is((select count(*)::integer from tests.invariant_violations(tests.wednesday_noon())
            where invariant = 'inv3: reserved inside the calling hours'), 3,
          'calls reserved at p_now outside the calling-hours rules (one row each)');
update calling_hours_rules set start_time = '08:00' where prefix = '';

update campaigns set requires_consent = true where id = :campaign_id;
update contacts set consent_at = tests.wednesday_noon() - interval '1 day', consent_method = 'verbal',
                    consent_expires_at = tests.wednesday_noon()
 where status = 'in_progress';
select is((select count(*)::integer from tests.invariant_violations(tests.wednesday_noon())
            where invariant = 'inv3: reserved and dialled only with valid consent'), 3,
          'calls reserved at p_now for a campaign requiring consent, without valid consent then (one row each)');
update campaigns set requires_consent = false where id = :campaign_id;

insert into scheduler_runs (trigger) values ('manual');
select results_eq(
  'select invariant from tests.invariant_violations(null, false)',
  $$values ('inv5: no run left running')$$,
  'a run left running, between ticks'
);

select * from finish();
rollback;
