-- Invariant 3, do-not-call: listing a number marks its pending contacts do_not_call, a contact
-- added later with a listed number is marked on insert, and no listed number is ever reserved.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(name => 'first') as first_id \gset
select tests.add_contact(:first_id, '+15551110001') as listed_id \gset
select tests.add_contact(:first_id, '+15551110002') as free_id \gset
select tests.add_contact(:first_id, '+15551110003') as renumbered_id \gset

insert into do_not_call_numbers (phone, reason) values ('+15551110001', 'asked not to be called'), ('+15551119999', 'complaint');

select results_eq(
  format('select status, last_error from contacts where id = %s', :listed_id),
  $$values ('do_not_call'::contact_status, 'number is on the do-not-call list')$$,
  'listing a number marks its pending contact do_not_call, with a reason'
);

select tests.create_campaign(name => 'second') as second_id \gset
select tests.add_contact(:second_id, '+15551119999') as late_id \gset
select is((select status from contacts where id = :late_id), 'do_not_call'::contact_status,
          'a contact added after its number was listed is marked do_not_call on insert');

-- A pending contact whose number changes to a listed one (no trigger covers an update):
-- launch_due_calls() checks the list itself.
update contacts set phone = '+15551119999' where id = :renumbered_id;
select is((select status from contacts where id = :renumbered_id), 'pending'::contact_status,
          '(fixture) the renumbered contact is still pending');

select is(tests.launch(tests.wednesday_noon()), 1, 'only the unlisted contact is reserved');
select is((select contact_id from calls), :free_id::bigint, 'and it is the one with the unlisted number');
select is((select count(*)::integer from calls where to_phone in (select phone from do_not_call_numbers)), 0,
          'no call is reserved for a listed number');
select is((select status from contacts where id = :listed_id), 'do_not_call'::contact_status,
          'the listed contact stays do_not_call');

select * from finish();
rollback;
