-- Test case "At cap -> No new calls" (invariant 1): a campaign holding as many active calls as its
-- cap gets nothing more until a call ends; every active status holds a slot.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(cap => 2) as campaign_id \gset
select tests.add_contacts(:campaign_id, 5);

select is(tests.launch(tests.wednesday_noon()), 2, 'the first launch fills the cap of 2');

select is(
  (select count(*)::integer from launch_due_calls(tests.wednesday_noon() + interval '1 minute') l
    where l.campaign_id = :campaign_id),
  0,
  'a campaign at its cap is not even examined'
);
select is(tests.active_calls(:campaign_id), 2, 'it still holds exactly 2 active calls');
select is((select count(*)::integer from contacts where status = 'pending'), 3, 'the other 3 contacts wait');

-- Dialling, ringing, answering and an unknown outcome all keep holding the slot.
select claim_queued_calls(10, null, tests.wednesday_noon() + interval '2 minutes');
select record_dispatch_result(min(id), 'unknown', p_reason => 'timeout', p_now => tests.wednesday_noon() + interval '2 minutes') from calls;
select apply_call_status(max(id), 'twilio', 'CA-in-progress', 'in_progress', p_now => tests.wednesday_noon() + interval '3 minutes') from calls;
select is(tests.launch(tests.wednesday_noon() + interval '4 minutes'), 0,
          'calls in unknown and in_progress still count against the cap');

-- One call ends: exactly one slot frees up.
select apply_call_status(max(id), 'twilio', 'CA-in-progress', 'completed', 60, p_now => tests.wednesday_noon() + interval '5 minutes') from calls;
select is(tests.launch(tests.wednesday_noon() + interval '6 minutes'), 1, 'a call that ends frees exactly one slot');
select is(tests.active_calls(:campaign_id), 2, 'and the campaign is back at its cap');

-- An operator lowers the cap below the calls in flight: nothing new until it is respected again.
update campaigns set max_concurrent_calls = 1 where id = :campaign_id;
select apply_call_status(max(id), 'twilio', null, 'busy', p_now => tests.wednesday_noon() + interval '7 minutes') from calls where status = 'queued';
select is(tests.launch(tests.wednesday_noon() + interval '8 minutes'), 0,
          'after the cap is lowered to 1 with one call still active, nothing is reserved');

select * from finish();
rollback;
