-- reserve_due_calls(): the reservation step both ticks run (run_cron_tick() and the
-- scheduler-tick function): housekeeping, then launch_due_calls(), summed up in one typed row; a
-- campaign that cannot dial is a problem, named with its campaign, and the others are served.
begin;
\ir ../_helpers.psql
select plan(6);

-- A call reserved an hour ago that nobody dispatched: housekeeping releases it.
select tests.create_campaign(name => 'stale') as stale \gset
select tests.add_contacts(:stale, 1);
select tests.launch(tests.wednesday_noon() - interval '1 hour');
update campaigns set status = 'PAUSED' where id = :stale;

select tests.create_campaign(name => 'fine', cap => 2) as fine \gset
select tests.create_campaign(name => 'no caller id', caller_id => null) as broken \gset
select tests.create_campaign(name => 'finished', status => 'RUNNING') as finished \gset
select tests.add_contacts(:fine, 3);
select tests.add_contacts(:broken, 1);

select results_eq(
  $$select outcome, campaigns_processed, calls_reserved, campaigns_completed, calls_released, calls_expired
      from reserve_due_calls(null, tests.wednesday_noon())$$,
  $$values ('reserved'::reservation_outcome, 2, 2, 1, 1, 0)$$,
  'one row: 2 campaigns examined, 2 calls reserved (the cap), 1 campaign completed, 1 stale call released'
);
select is((select count(*)::integer from calls where campaign_id = :fine and status = 'queued'), 2,
          'the calls were reserved');
select is((select status from campaigns where id = :finished), 'COMPLETED'::campaign_status,
          'the campaign with nothing to do was completed');

select tests.add_contacts(:broken, 1);
select is(
  (select problems from reserve_due_calls(null, tests.wednesday_noon() + interval '1 minute')),
  jsonb_build_array(jsonb_build_object('campaign_id', :broken::text, 'message', 'malformed campaign: caller_id is not set')),
  'a campaign that cannot dial is a problem, with its id (text) and why'
);
select is(
  (select problems from reserve_due_calls(null, tests.wednesday_noon() + interval '2 minutes') where outcome = 'reserved'),
  jsonb_build_array(jsonb_build_object('campaign_id', :broken::text, 'message', 'malformed campaign: caller_id is not set')),
  'on every tick until it is fixed'
);
update campaigns set caller_id = '+15559990001' where id = :broken;
select is((select problems from reserve_due_calls(null, tests.wednesday_noon() + interval '3 minutes')), '[]'::jsonb,
          'and no problem once it is fixed (problems is an empty array)');

select * from finish();
rollback;
