-- Invariant 6, completion: a QUEUED or RUNNING campaign with no contact left to call (none pending
-- with attempts left, none in progress) and no active call becomes COMPLETED; anything still to do
-- keeps it open.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(name => 'call in flight', status => 'RUNNING') as in_flight_id \gset
select tests.add_contacts(:in_flight_id, 1) as in_flight_contact \gset
select tests.dial(:in_flight_contact, tests.wednesday_noon() - interval '5 minutes');

select tests.create_campaign(name => 'all settled', status => 'RUNNING') as settled_id \gset
select count(*) from tests.add_contacts(:settled_id, 4);
update contacts set status = s.status
  from (values (0, 'done'::contact_status), (1, 'exhausted'), (2, 'invalid'), (3, 'do_not_call')) s (n, status)
 where contacts.id = (select min(id) from contacts where campaign_id = :settled_id) + s.n;
select tests.create_campaign(name => 'running, no contacts', status => 'RUNNING') as emptied_id \gset
select tests.create_campaign(name => 'retry pending', status => 'RUNNING') as retry_id \gset
select tests.add_contacts(:retry_id, 1, next_attempt_at => tests.wednesday_noon() + interval '1 hour');
select tests.create_campaign(name => 'queued, only settled contacts') as queued_settled_id \gset
select tests.add_contacts(:queued_settled_id, 1) as settled_contact \gset
update contacts set status = 'done' where id = :settled_contact;

create temp table launched on commit drop as select * from launch_due_calls(tests.wednesday_noon());

select results_eq(
  $$select c.name, l.campaign_status, l.outcome from launched l join campaigns c on c.id = l.campaign_id
     where l.outcome = 'completed' order by c.id$$,
  $$values ('all settled', 'COMPLETED'::campaign_status, 'completed'::launch_outcome),
           ('running, no contacts', 'COMPLETED', 'completed'),
           ('queued, only settled contacts', 'COMPLETED', 'completed')$$,
  'campaigns with nothing left are reported as completed'
);
select is((select status from campaigns where id = :settled_id), 'COMPLETED'::campaign_status,
          'done, exhausted, invalid and do-not-call contacts leave nothing to do');
select is((select completed_at from campaigns where id = :settled_id), tests.wednesday_noon(), 'completed_at is p_now');
select is((select status from campaigns where id = :emptied_id), 'COMPLETED'::campaign_status,
          'a RUNNING campaign whose contacts were all removed is completed');
select is((select status from campaigns where id = :queued_settled_id), 'COMPLETED'::campaign_status,
          'a QUEUED campaign that has contacts, all settled, is completed');
select is((select status from campaigns where id = :retry_id), 'RUNNING'::campaign_status,
          'a contact waiting for its retry keeps the campaign open');
select is((select status from campaigns where id = :in_flight_id), 'RUNNING'::campaign_status,
          'a call in flight keeps the campaign open');
select is(
  (select count(*)::integer from launch_due_calls(tests.wednesday_noon() + interval '1 minute') l
    where l.campaign_id in (:settled_id, :emptied_id, :queued_settled_id)),
  0,
  'a completed campaign is never served or reported again'
);

select * from finish();
rollback;
