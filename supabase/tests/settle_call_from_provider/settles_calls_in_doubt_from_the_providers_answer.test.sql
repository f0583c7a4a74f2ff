-- Calls whose outcome we never learnt (dialing without an answer, unknown) are looked up at the
-- provider after provider_check_after, well before the reaper: calls_to_check_at_provider() hands
-- them out once per provider_check_after, and settle_call_from_provider() applies the answer. A call
-- the provider placed is settled with its real outcome (a person who answered is not called again);
-- a call the provider never placed fails at once and its contact is retried; a call whose provider
-- id we hold is never failed for a missing record.
begin;
\ir ../_helpers.psql
select plan(23);

select tests.create_campaign(cap => 10, max_attempts => 3) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 4);
select tests.launch(tests.wednesday_noon());
create temp table claimed on commit drop as
  select row_number() over (order by call_id) as n, call_id, contact_id
    from claim_queued_calls(10, null, tests.wednesday_noon());
select call_id as c1, contact_id as k1 from claimed where n = 1 \gset
select call_id as c2 from claimed where n = 2 \gset
select call_id as c3, contact_id as k3 from claimed where n = 3 \gset
select call_id as c4 from claimed where n = 4 \gset

-- Call 1: its create request timed out (unknown, no provider id). Call 2: accepted (CA2), and its
-- callbacks never came. Call 3: unknown too. Call 4: the function crashed before the answer (dialing).
select count(*) from tests.record_batch(tests.wednesday_noon() + interval '1 second',
  tests.answer(:c1, 'unknown', reason => 'no answer within 8000 ms'),
  tests.answer(:c2, 'accepted', provider_call_id => 'CA2', status => 'dialing'),
  tests.answer(:c3, 'unknown', reason => 'HTTP 500'));

select is((select count(*)::integer from calls_to_check_at_provider(tests.wednesday_noon() + interval '1 minute')), 0,
          'nothing is looked up before provider_check_after (2 minutes)');
create temp table first_look on commit drop as
  select * from calls_to_check_at_provider(tests.wednesday_noon() + interval '3 minutes', 10);
select results_eq(
  'select call_id, provider_call_id, status from first_look order by call_id',
  format($$values (%s::bigint, null::text, 'unknown'::call_status), (%s, 'CA2', 'dialing'), (%s, null, 'unknown'), (%s, null, 'dialing')$$,
         :c1, :c2, :c3, :c4),
  'after it, every call in doubt is handed out, with what a lookup needs'
);
select ok((select bool_and(to_phone like '+%' and caller_id is not null and dialed_at = tests.wednesday_noon()) from first_look),
          'each with its number, caller id and when it was dialled');
select is((select count(*)::integer from calls_to_check_at_provider(tests.wednesday_noon() + interval '3 minutes 1 second', 10)), 0,
          'a call looked up is not handed out again within provider_check_after (another tick does not ask twice)');

-- Call 1: the provider placed it (CA1) and the person answered.
select is(settle_call_from_provider(:c1, 'twilio', true, 'CA1', 'completed', 42, 'human',
                                    tests.wednesday_noon() + interval '3 minutes'),
          'applied', 'a call the provider placed is settled with its status');
select results_eq(
  format('select status, provider_call_id, duration_seconds, answered_by from calls where id = %s', :c1),
  $$values ('completed'::call_status, 'CA1', 42, 'human')$$,
  'with its provider id, duration and who answered'
);
select results_eq(
  format('select status, attempts from contacts where id = %s', :k1),
  $$values ('done'::contact_status, 1)$$,
  'the person who answered is done: not called again'
);
select is(settle_call_from_provider(:c1, 'twilio', true, 'CA1', 'completed', 42, 'human',
                                    tests.wednesday_noon() + interval '3 minutes'),
          'ignored', 'settling it again changes nothing');

-- Call 2: the provider has no record of CA2 (never proof: it gave us that id).
select is(settle_call_from_provider(:c2, 'twilio', false, p_now => tests.wednesday_noon() + interval '3 minutes'),
          'kept', 'a call whose provider id we hold is not failed for a missing record');
select is((select status from calls where id = :c2), 'dialing'::call_status, 'it stays dialing, for its callbacks or the reaper');

-- Call 3: the provider has no call to this number since it was dialled: nobody was dialled.
select is(settle_call_from_provider(:c3, 'twilio', false, p_now => tests.wednesday_noon() + interval '3 minutes'),
          'not_placed', 'a call the provider never placed is settled at once');
select results_eq(
  format($$select status, error like 'not placed: the provider has no call to this number%%' from calls where id = %s$$, :c3),
  $$values ('failed'::call_status, true)$$,
  'it fails, saying why'
);
select results_eq(
  format('select status, attempts from contacts where id = %s', :k3),
  $$values ('pending'::contact_status, 1)$$,
  'its contact is called again (attempts remain), without waiting for the reaper'
);

-- Call 4: the provider names a call that is already another of ours.
select is(settle_call_from_provider(:c4, 'twilio', true, 'CA1', 'completed', 10, null,
                                    tests.wednesday_noon() + interval '3 minutes'),
          'conflict', 'a provider call that is another of our calls is not adopted');
select is((select status from calls where id = :c4), 'dialing'::call_status, 'the call is left for the reaper');
-- Known there but not started yet: its id is kept, nothing else changes.
select is(settle_call_from_provider(:c4, 'twilio', true, 'CA4', 'queued', p_now => tests.wednesday_noon() + interval '3 minutes'),
          'ignored', 'a call queued at the provider is not settled');
select is((select provider_call_id from calls where id = :c4), 'CA4', 'but its provider id is kept');

-- Still in doubt after provider_check_after: asked again.
select results_eq(
  'select call_id from calls_to_check_at_provider(tests.wednesday_noon() + interval ''5 minutes'', 10) order by call_id',
  format('values (%s::bigint), (%s)', :c2, :c4),
  'the calls still in doubt are looked up again after provider_check_after'
);
-- A call answered long ago whose final callback never came: looked up by its id and settled.
select count(*) from tests.record_batch(tests.wednesday_noon() + interval '1 second',
  tests.answer(:c2, 'accepted', provider_call_id => 'CA2', status => 'dialing'));
select apply_call_status(:c2, 'twilio', 'CA2', 'in_progress', p_now => tests.wednesday_noon() + interval '6 minutes');
select is((select count(*)::integer from calls_to_check_at_provider(tests.wednesday_noon() + interval '7 minutes', 10)
            where call_id = :c2), 0, 'a call in progress with recent news is not looked up');
select is((select count(*)::integer from calls_to_check_at_provider(tests.wednesday_noon() + interval '8 minutes 1 second', 10)
            where call_id = :c2), 1, 'with no news for provider_check_after, it is');
select is(settle_call_from_provider(:c2, 'twilio', true, 'CA2', 'completed', 300, 'human',
                                    tests.wednesday_noon() + interval '8 minutes 1 second'),
          'applied', 'and settled with the provider''s final status');
select is((select count(*)::integer from tests.invariant_violations()), 0, 'every invariant holds');

select throws_ok(format($$select settle_call_from_provider(%s, 'twilio', true, null, 'completed')$$, :c2), '22023', null,
                 'a call found needs its provider id');
select * from finish();
rollback;
