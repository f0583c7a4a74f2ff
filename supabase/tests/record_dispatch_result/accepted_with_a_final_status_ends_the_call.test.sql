-- The provider's answer to a create-call request may already carry a final status (a call that
-- failed or was canceled at once). 'accepted' must then end the call like the matching callback
-- would: ended_at set, the slot freed, the contact settled. It must not raise (a final status
-- without ended_at breaks calls_final_have_ended_at) and leave the call dialing for the reaper.
begin;
\ir ../_helpers.psql
select plan(4);

select tests.create_campaign(retry_delay => '1 hour') as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select lives_ok(
  format($$select record_dispatch_result(%s, 'accepted', 'CA-1', 'failed', p_now => tests.wednesday_noon())$$, :call_id),
  'accepted with a final status does not raise'
);
select results_eq(
  format('select status, provider_call_id, ended_at from calls where id = %s', :call_id),
  $$values ('failed'::call_status, 'CA-1', tests.wednesday_noon())$$,
  'the call is failed, with its provider call id, ended at p_now'
);
select is(tests.active_calls(:campaign_id), 0, 'its slot is free');
select results_eq(
  format('select status, next_attempt_at from contacts where id = %s', :contact_id),
  $$values ('pending'::contact_status, tests.wednesday_noon() + interval '1 hour')$$,
  'the contact is settled: retried after the retry delay'
);

select * from finish();
rollback;
