-- Invariant 3 and 6: a number listed while its contact has a call in flight (the list trigger only
-- marks pending contacts) must end as do_not_call once that call ends or is released; it must not
-- go back to pending, where it is never dialled yet keeps its campaign from ever completing.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(name => 'dialled when listed') as dialled_campaign \gset
select tests.add_contact(:dialled_campaign, '+15552220001') as dialled_contact \gset
select tests.dial(:dialled_contact, tests.wednesday_noon()) as dialled_call \gset
insert into do_not_call_numbers (phone, reason) values ('+15552220001', 'asked during the call');

select is((select status from contacts where id = :dialled_contact), 'in_progress'::contact_status,
          '(fixture) the contact is in progress when its number is listed');
select apply_call_status(:dialled_call, 'twilio', 'CA-1', 'busy', p_now => tests.wednesday_noon() + interval '1 minute');
select is((select status from contacts where id = :dialled_contact), 'do_not_call'::contact_status,
          'when the call ends busy the contact becomes do_not_call, not pending for a retry');
select is(tests.launch(tests.wednesday_noon() + interval '2 hours'), 0, 'it is never reserved again');
select is((select status from campaigns where id = :dialled_campaign), 'COMPLETED'::campaign_status,
          'and its campaign, with nothing else to do, completes');

-- Listed while its call waits in the queue, then released by housekeeping (queued_call_ttl).
select tests.create_campaign(name => 'queued when listed') as queued_campaign \gset
select tests.add_contact(:queued_campaign, '+15552220002') as queued_contact \gset
select tests.launch(tests.wednesday_noon() + interval '3 hours');
insert into do_not_call_numbers (phone) values ('+15552220002');
select is(release_stale_queued_calls(tests.wednesday_noon() + interval '3 hours 11 minutes'), 1, '(fixture) the stale call is released');
select is((select status from contacts where id = :queued_contact), 'do_not_call'::contact_status,
          'a contact whose queued call is released after its number was listed becomes do_not_call');

-- Claimed by a dispatcher instead: claim_queued_calls() already gets this right.
select tests.create_campaign(name => 'claimed when listed') as claimed_campaign \gset
select tests.add_contact(:claimed_campaign, '+15552220003') as claimed_contact \gset
select tests.launch(tests.wednesday_noon() + interval '4 hours');
insert into do_not_call_numbers (phone) values ('+15552220003');
select claim_queued_calls(10, null, tests.wednesday_noon() + interval '4 hours 1 minute');
select is((select status from contacts where id = :claimed_contact), 'do_not_call'::contact_status,
          'a contact whose queued call is released by the dispatcher because of the list becomes do_not_call');

-- Listed while queued, and its campaign paused too: the dispatcher gives the pause as the reason,
-- but the number is listed all the same.
select tests.create_campaign(name => 'paused and listed') as paused_campaign \gset
select tests.add_contact(:paused_campaign, '+15552220004') as paused_contact \gset
select tests.launch(tests.wednesday_noon() + interval '5 hours');
insert into do_not_call_numbers (phone) values ('+15552220004');
update campaigns set status = 'PAUSED' where id = :paused_campaign;
select is((select release_reason from claim_queued_calls(10, null, tests.wednesday_noon() + interval '5 hours 1 minute')),
          'campaign is paused', '(fixture) the dispatcher releases the call because the campaign is paused');
select is((select status from contacts where id = :paused_contact), 'do_not_call'::contact_status,
          'a contact released for another reason while its number is listed becomes do_not_call too');

select * from finish();
rollback;
