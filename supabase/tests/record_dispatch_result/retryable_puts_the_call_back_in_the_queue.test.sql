-- 'retryable' (429, 503: the provider did not create the call): the call goes back to queued, the
-- attempt is given back, and it is not claimed again before the provider's retry time.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 1) as contact_id \gset
select tests.dial(:contact_id, tests.wednesday_noon()) as call_id \gset

select is(
  record_dispatch_result(:call_id, 'retryable', p_reason => 'rate limited', p_error_code => '429',
                         p_retry_at => tests.wednesday_noon() + interval '30 seconds', p_now => tests.wednesday_noon()),
  'queued'::call_status,
  'a retryable outcome puts the call back in the queue'
);
select results_eq(
  format('select status, dialed_at, dispatch_run_id, dispatch_after, error, error_code from calls where id = %s', :call_id),
  $$values ('queued'::call_status, null::timestamptz, null::bigint, tests.wednesday_noon() + interval '30 seconds', 'rate limited', '429')$$,
  'it is undialled again, due at the provider''s retry time, with the reason kept'
);
select results_eq(
  format('select status, attempts from contacts where id = %s', :contact_id),
  $$values ('in_progress'::contact_status, 0)$$,
  'the contact keeps its slot and gets its attempt back'
);
select is(tests.active_calls(:campaign_id), 1, 'the call still holds its slot of the cap');
select is(tests.launch(tests.wednesday_noon() + interval '10 seconds'), 0, 'no second call is reserved for the contact');
select is((select count(*)::integer from claim_queued_calls(10, null, tests.wednesday_noon() + interval '10 seconds')), 0,
          'it is not claimed before dispatch_after');
select results_eq(
  $$select call_id, attempt, release_reason from claim_queued_calls(10, null, tests.wednesday_noon() + interval '30 seconds')$$,
  format('values (%s::bigint, 1, null::text)', :call_id),
  'at dispatch_after the same call, same attempt, is claimed again'
);
select is((select attempts from contacts where id = :contact_id), 1, 'and counts its attempt once');

select record_dispatch_result(:call_id, 'retryable', p_retry_at => tests.wednesday_noon() - interval '1 hour',
                              p_now => tests.wednesday_noon() + interval '31 seconds');
select is((select dispatch_after from calls where id = :call_id), tests.wednesday_noon() + interval '31 seconds',
          'a retry time in the past means "now", never earlier');

select * from finish();
rollback;
