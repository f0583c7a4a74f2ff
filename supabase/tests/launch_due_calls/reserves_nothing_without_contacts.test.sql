-- Test case "No contacts -> No calls": a campaign with nothing due reserves nothing, and a QUEUED
-- campaign that has no contacts yet (it is being filled) is not completed under its owner's feet.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(name => 'being filled') as empty_id \gset
select tests.create_campaign(name => 'retries later') as later_id \gset
select tests.add_contacts(:later_id, 2, next_attempt_at => tests.wednesday_noon() + interval '1 hour');

create temp table launched on commit drop as select * from launch_due_calls(tests.wednesday_noon());

select is((select count(*)::integer from calls), 0, 'no call is reserved');
select is((select reserved from launched where campaign_id = :empty_id), 0,
          'the campaign without contacts is examined and reserves nothing');
select is((select status from campaigns where id = :empty_id), 'QUEUED'::campaign_status,
          'a QUEUED campaign with zero contacts stays QUEUED (not COMPLETED)');
select is((select status from campaigns where id = :later_id), 'QUEUED'::campaign_status,
          'a campaign whose contacts are not due yet stays QUEUED');
select is((select count(*)::integer from contacts where status = 'pending'), 2, 'contacts not due stay pending');

select is(tests.launch(tests.wednesday_noon() + interval '1 hour'), 2,
          'once due (next_attempt_at <= p_now) they are reserved');
select is((select status from campaigns where id = :empty_id), 'QUEUED'::campaign_status,
          'the empty campaign is still QUEUED after another tick');

select * from finish();
rollback;
