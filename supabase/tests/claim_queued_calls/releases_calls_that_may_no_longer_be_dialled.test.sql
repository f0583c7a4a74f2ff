-- Invariant 3 at the moment of dialling: claim_queued_calls() re-checks every queued call and
-- releases (canceled, released_at set, no attempt counted) the ones that may no longer be dialled:
-- campaign paused or cancelled, caller id gone, number on the do-not-call list, attempts used up,
-- waited longer than queued_call_ttl (10 minutes), or calling window closed meanwhile.
begin;
\ir ../_helpers.psql
select plan(8);

-- The clock: reserved at 19:55 UTC (window 09:00-20:00), claimed at 20:01.
-- 'stale' is reserved earlier, at 19:45, so that it is 16 minutes old at 20:01.
select tests.create_campaign(name => 'stale') as stale_id \gset
select tests.add_contacts(:stale_id, 1);
select tests.launch(tests.wednesday_noon() + interval '7 hours 45 minutes');

select tests.create_campaign(name => 'paused') as paused_id \gset
select tests.create_campaign(name => 'cancelled') as cancelled_id \gset
select tests.create_campaign(name => 'caller id removed') as no_caller_id \gset
select tests.create_campaign(name => 'listed') as listed_id \gset
select tests.create_campaign(name => 'attempts lowered') as lowered_id \gset
select tests.create_campaign(name => 'window closed') as closed_id \gset
select tests.create_campaign(name => 'still fine', window_end => '21:00') as fine_id \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 1) where c.id <> :stale_id;
select tests.launch(tests.wednesday_noon() + interval '7 hours 55 minutes');

update campaigns set status = 'PAUSED' where id = :paused_id;
update campaigns set status = 'CANCELLED' where id = :cancelled_id;
update campaigns set caller_id = null where id = :no_caller_id;
insert into do_not_call_numbers (phone) select phone from contacts where campaign_id = :listed_id;
update campaigns set max_attempts = 1 where id = :lowered_id;
update contacts set attempts = 1 where campaign_id = :lowered_id;

create temp table claimed on commit drop as
  select * from claim_queued_calls(100, null, tests.wednesday_noon() + interval '8 hours 1 minute');

select results_eq(
  'select c.name, k.release_reason from claimed k join campaigns c on c.id = k.campaign_id order by c.id',
  $$values ('stale', 'waited in queue longer than queued_call_ttl'),
           ('paused', 'campaign is paused'),
           ('cancelled', 'campaign is cancelled'),
           ('caller id removed', 'malformed campaign: caller_id is not set'),
           ('listed', 'number is on the do-not-call list'),
           ('attempts lowered', 'max attempts reached'),
           ('window closed', 'outside calling window'),
           ('still fine', null)$$,
  'every call is re-checked; each one that may not be dialled is released with its reason'
);
select results_eq(
  $$select count(*)::integer, bool_and(cl.released_at = tests.wednesday_noon() + interval '8 hours 1 minute'),
           bool_and(cl.dialed_at is null), bool_and(cl.error = 'released before dialling: ' || k.release_reason)
      from calls cl join claimed k on k.call_id = cl.id
     where cl.status = 'canceled'$$,
  $$values (7, true, true, true)$$,
  'the 7 released calls are canceled, released at p_now, never dialled, with the reason as error'
);
select is(tests.active_calls(), 1, 'released calls free their slots; only the claimed call is active');
select results_eq(
  'select c.name, ct.status from contacts ct join campaigns c on c.id = ct.campaign_id order by c.id',
  $$values ('stale', 'pending'::contact_status), ('paused', 'pending'), ('cancelled', 'pending'),
           ('caller id removed', 'pending'), ('listed', 'do_not_call'), ('attempts lowered', 'exhausted'),
           ('window closed', 'pending'), ('still fine', 'in_progress')$$,
  'contacts go back to pending, or to do_not_call / exhausted when that is why the call was released'
);
select results_eq(
  $$select c.name, ct.attempts from contacts ct join campaigns c on c.id = ct.campaign_id
     where c.name in ('stale', 'paused', 'window closed', 'still fine') order by c.id$$,
  $$values ('stale', 0), ('paused', 0), ('window closed', 0), ('still fine', 1)$$,
  'a release does not count an attempt; the claimed call does'
);
select is((select cl.status from calls cl join contacts ct on ct.id = cl.contact_id where ct.campaign_id = :fine_id),
          'dialing'::call_status, 'the call that passed every check is dialing');
select ok(
  (select bool_and(ct.last_error = 'call released before dialling: ' || k.release_reason)
     from contacts ct join claimed k on k.contact_id = ct.id where k.release_reason is not null),
  'each released contact records why'
);

-- A released contact can be reserved again later, as the same attempt number.
select tests.launch(tests.wednesday_noon() + interval '1 day');
select is((select attempt from calls where contact_id = (select id from contacts where campaign_id = :stale_id)
            and status = 'queued'), 1,
          'a released contact is reserved again as attempt 1 (a release was not an attempt)');

select * from finish();
rollback;
