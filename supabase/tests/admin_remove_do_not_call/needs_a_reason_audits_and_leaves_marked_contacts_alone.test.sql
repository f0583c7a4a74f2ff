-- An operator removes a number: a reason is required; the removal is audited with the row before;
-- contacts the list had marked do_not_call stay so (no delete trigger: nothing is dialled again
-- silently), while a contact added afterwards is dialled as usual.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(name => 'a') as a \gset
select tests.add_contact(:a, '+15553340001') as marked \gset
select admin_add_do_not_call('+15553340001', 'asked', 'admin_token', null, tests.wednesday_noon());

select throws_ok($$select admin_remove_do_not_call('+15553340001', null, 'admin_token')$$, '22023', 'a reason is required',
                 'no reason: refused');
select is((select count(*)::integer from do_not_call_numbers), 1, 'still listed');

select is(admin_remove_do_not_call('+15553340001', 'listed by mistake', 'operator:2:bo', null,
                                   tests.wednesday_noon() + interval '1 hour') - 'removed',
          '{"reason": "listed by mistake", "contacts_still_do_not_call": 1}'::jsonb,
          'removed, saying how many contacts stay do_not_call');
select is((select count(*)::integer from do_not_call_numbers), 0, 'off the list');
select is((select (actor, action, subject, before ->> 'reason', after ->> 'reason') from operator_audit_log
            where action = 'do_not_call.remove'),
          ('operator:2:bo'::text, 'do_not_call.remove'::text, 'do_not_call +15553340001'::text, 'asked'::text,
           'listed by mistake'::text),
          'audited: who, the row before, the reason');
select is((select status from contacts where id = :marked), 'do_not_call'::contact_status,
          'the contact marked while it was listed is not resurrected');

select tests.create_campaign(name => 'b') as b \gset
select tests.add_contact(:b, '+15553340001') as fresh \gset
select is((select status from contacts where id = :fresh), 'pending'::contact_status, 'a contact added afterwards is pending');

select is(admin_remove_do_not_call('+15553340001', 'again', 'admin_token'), null, 'not listed: null, nothing recorded');

select * from finish();
rollback;
