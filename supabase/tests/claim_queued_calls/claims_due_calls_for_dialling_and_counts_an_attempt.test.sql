-- claim_queued_calls() hands queued calls to a dispatcher: they move to dialing, the contact's
-- attempts go up by one, and the caller gets what it needs to place the call.
begin;
\ir ../_helpers.psql
select plan(10);

select tests.create_campaign(cap => 5) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 3);
select tests.launch(tests.wednesday_noon());
select run_id from start_scheduler_run('vercel', tests.wednesday_noon(), p_now => tests.wednesday_noon()) \gset

create temp table claimed on commit drop as
  select * from claim_queued_calls(2, :run_id, tests.wednesday_noon() + interval '10 seconds');

select is((select count(*)::integer from claimed), 2, 'at most p_limit calls are claimed');
select ok((select bool_and(release_reason is null) from claimed), 'claimed calls have no release reason');
select results_eq(
  'select caller_id, provider, provider_settings, attempt from claimed',
  $$values ('+15559990000', 'twilio', '{"twiml": "<Response><Say>Hello from the test suite</Say></Response>"}'::jsonb, 1),
           ('+15559990000', 'twilio', '{"twiml": "<Response><Say>Hello from the test suite</Say></Response>"}'::jsonb, 1)$$,
  'each claimed call carries the campaign''s caller id, provider and settings, and its attempt number'
);
select ok(
  (select bool_and(cl.status = 'dialing' and cl.dialed_at = tests.wednesday_noon() + interval '10 seconds'
                   and cl.dispatch_run_id = :run_id)
     from calls cl join claimed k on k.call_id = cl.id),
  'claimed calls move to dialing, with dialed_at = p_now and the dispatching run'
);
select is((select sum(attempts)::integer from contacts ct join claimed k on k.contact_id = ct.id), 2,
          'each claimed call counts one attempt for its contact');
select is((select status from calls where id not in (select call_id from claimed)), 'queued'::call_status,
          'the call beyond p_limit stays queued');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '20 seconds')), 1,
          'the next claim takes the remaining call');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '30 seconds')), 0,
          'and then there is nothing left to claim');

-- A call whose dispatch_after lies in the future (a provider asked us to back off) waits.
select tests.add_contacts(:campaign_id, 1) as late_contact \gset
select tests.launch(tests.wednesday_noon() + interval '1 minute');
update calls set dispatch_after = tests.wednesday_noon() + interval '5 minutes' where contact_id = :late_contact;
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '2 minutes')), 0,
          'a call is not claimed before its dispatch_after');

select throws_ok(
  $$select * from claim_queued_calls(0)$$,
  '22023',
  'p_limit must be at least 1, got 0',
  'p_limit below 1 is refused'
);

select * from finish();
rollback;
