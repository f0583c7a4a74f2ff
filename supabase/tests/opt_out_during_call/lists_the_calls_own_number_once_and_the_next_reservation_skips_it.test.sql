-- A called person opts out during the call: the number comes from the call row; it is listed with
-- the call id in the reason and the audit row; a second request changes nothing; the next
-- reservation does not reserve that number in any campaign.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(name => 'a') as a \gset
select tests.create_campaign(name => 'b') as b \gset
select tests.add_contact(:a, '+15553360001') as called \gset
select tests.add_contact(:b, '+15553360001') as elsewhere \gset
select tests.dial(:called, tests.wednesday_noon()) as call \gset
update contacts set next_attempt_at = tests.wednesday_noon() + interval '1 hour' where id = :elsewhere;

select is(opt_out_during_call(:call, tests.wednesday_noon() + interval '30 seconds'),
          jsonb_build_object('result', 'added', 'call_id', :call), 'added');
select is((select (phone, reason, added_by) from do_not_call_numbers),
          ('+15553360001'::text, 'opted out during call ' || :call, 'call ' || :call), 'the call''s own number, with the call id');
select is((select (actor, action, subject, (after ->> 'call_id')::bigint, (after ->> 'campaign_id')::bigint) from operator_audit_log),
          ('call ' || :call, 'do_not_call.opt_out'::text, 'do_not_call +15553360001'::text, :call::bigint, :a::bigint),
          'audited with the call id');
select is(opt_out_during_call(:call) ->> 'result', 'already_listed', 'a second request: already listed');
select is((select count(*)::integer from operator_audit_log) + (select count(*)::integer from do_not_call_numbers), 2,
          'and nothing new is written');
select is(opt_out_during_call(999999) ->> 'result', 'no_such_call', 'an unknown call: nothing');
select is((select status from contacts where id = :elsewhere), 'do_not_call'::contact_status,
          'the same number in another campaign is marked do_not_call at once');
select is(tests.launch(tests.wednesday_noon() + interval '2 hours'), 0, 'the next reservation reserves nothing');

select * from finish();
rollback;
