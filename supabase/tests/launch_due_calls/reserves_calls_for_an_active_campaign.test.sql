-- Test case "Active campaign -> Calls launched": a QUEUED campaign with due contacts gets one
-- queued call per contact up to its cap, the contacts move to in_progress, the campaign to RUNNING.
begin;
\ir ../_helpers.psql
select plan(12);

select tests.create_campaign(name => 'spring drive', cap => 5) as campaign_id \gset
select tests.add_contacts(:campaign_id, 3);

create temp table launched on commit drop as
  select * from launch_due_calls(tests.wednesday_noon());

select results_eq(
  'select campaign_id, outcome, reserved, active_calls, max_concurrent_calls, campaign_status, problem from launched',
  format($$values (%s::bigint, 'served'::launch_outcome, 3, 3, 5, 'RUNNING'::campaign_status, null::text)$$, :campaign_id),
  'launch_due_calls() reports one row for the campaign: 3 reserved, 3 active of 5, now RUNNING'
);

select is(
  (select count(*)::integer from calls where campaign_id = :campaign_id and status = 'queued'),
  3,
  'each due contact gets one queued call'
);

select is(
  (select count(distinct contact_id)::integer from calls where campaign_id = :campaign_id),
  3,
  'the three calls belong to three different contacts'
);

select ok(
  (select bool_and(attempt = 1) from calls where campaign_id = :campaign_id),
  'a first call is attempt 1'
);

select ok(
  (select bool_and(cl.to_phone = ct.phone) from calls cl join contacts ct on ct.id = cl.contact_id),
  'each call dials its contact''s phone'
);

select ok(
  (select bool_and(queued_at = tests.wednesday_noon() and dispatch_after = tests.wednesday_noon()) from calls),
  'calls are queued at p_now and may be dispatched from p_now'
);

select is(
  (select count(*)::integer from contacts where campaign_id = :campaign_id and status = 'in_progress'),
  3,
  'the contacts move to in_progress'
);

select is(
  (select sum(attempts)::integer from contacts where campaign_id = :campaign_id),
  0,
  'reserving is not an attempt: attempts count calls sent to the provider'
);

select is(
  (select status from campaigns where id = :campaign_id),
  'RUNNING'::campaign_status,
  'the QUEUED campaign becomes RUNNING'
);

select is(
  (select last_served_at from campaigns where id = :campaign_id),
  tests.wednesday_noon(),
  'last_served_at records when the campaign was served'
);

select is(
  (select started_at from campaigns where id = :campaign_id),
  tests.wednesday_noon(),
  'started_at records the first reservation'
);

select is(
  (select count(*)::integer from contacts where campaign_id = :campaign_id and status = 'pending'),
  0,
  'no due contact is left behind when the cap has room'
);

select * from finish();
rollback;
