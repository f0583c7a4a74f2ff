-- Inside a campaign, due contacts are reserved in this order: due scheduled callbacks, then higher
-- priority, then the earliest next_attempt_at. A callback not yet due waits; a due one is reserved
-- even with its attempts used, but never on the do-not-call list or outside the window. Why not now
-- says 'scheduled callback' until the instant.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(cap => 1, max_attempts => 2, window_start => '00:00', window_end => '23:59',
                             window_days => '{1,2,3,4,5,6,7}') as c \gset
select tests.add_contact(:c, '+15550001001', next_attempt_at => tests.wednesday_noon() - interval '3 days') as oldest \gset
select tests.add_contact(:c, '+15550001002', next_attempt_at => tests.wednesday_noon() - interval '1 hour') as lead \gset
select tests.add_contact(:c, '+15550001003', next_attempt_at => tests.wednesday_noon() - interval '2 days') as asked \gset
select tests.add_contact(:c, '+15550001004') as later \gset
update contacts set priority = 100 where id = :lead;
-- Asked to be called back at noon and five minutes; its attempts are used (2 of 2).
update contacts set attempts = 2, status = 'exhausted' where id = :asked;
select is((public._set_contact_callback(:asked, tests.wednesday_noon() + interval '5 minutes', tests.wednesday_noon()) ->> 'status'),
          'pending', 'a callback makes an exhausted contact pending again');
select results_eq(
  format($$select reason from contact_wait_details(%L) where contact_id = %s$$, tests.wednesday_noon(), :asked),
  $$values ('scheduled callback')$$,
  'why not now: scheduled callback, until its instant'
);

-- Before the callback is due: the lead (priority 100) before the contact due for three days.
select is(tests.launch(tests.wednesday_noon()), 1, 'one slot');
select is((select contact_id from calls), :lead::bigint, 'the higher priority first, though others waited longer');
update calls set status = 'canceled', released_at = tests.wednesday_noon(), ended_at = tests.wednesday_noon() where contact_id = :lead;
update contacts set status = 'done' where id = :lead;

-- The callback is due: it goes first, attempts used or not.
select is(tests.launch(tests.wednesday_noon() + interval '5 minutes'), 1, 'one slot again');
select is((select contact_id from calls where released_at is null), :asked::bigint, 'the due callback before every other due contact');
update calls set status = 'canceled', released_at = tests.wednesday_noon() + interval '5 minutes', ended_at = tests.wednesday_noon() + interval '5 minutes' where contact_id = :asked;
update contacts set status = 'pending' where id = :asked;

-- On the do-not-call list: not even a callback is called.
insert into do_not_call_numbers (phone, reason) values ('+15550001003', 'asked');
select is(tests.launch(tests.wednesday_noon() + interval '6 minutes'), 1, 'one slot again');
select is((select contact_id from calls where released_at is null), :oldest::bigint,
          'a callback on the do-not-call list is skipped: the longest due contact is next');

select * from finish();
rollback;
