-- An operator adds a number: E.164 and a reason required; its pending contacts are marked at once;
-- one audit row (who, what, why, when); adding it again changes nothing and records nothing.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(name => 'a') as a \gset
select tests.add_contact(:a, '+15553330001') as contact \gset

select throws_ok($$select admin_add_do_not_call('+15553330001', '  ', 'admin_token')$$, '22023', 'a reason is required',
                 'a blank reason is refused');
select throws_ok($$select admin_add_do_not_call('555-0001', 'asked', 'admin_token')$$, '23514', null,
                 'a number that is not E.164 is refused by the CHECK constraint');
select is((select count(*)::integer from do_not_call_numbers) + (select count(*)::integer from operator_audit_log), 0,
          'nothing written by the refusals');

select is(admin_add_do_not_call('+15553330001', ' asked by letter ', 'operator:1:ana', null, tests.wednesday_noon())
            - 'row',
          '{"added": true, "contacts_marked": 1}'::jsonb, 'added, with the pending contact marked');
select is((select (reason, added_at, added_by) from do_not_call_numbers),
          ('asked by letter'::text, tests.wednesday_noon(), 'operator:1:ana'::text), 'the row: reason trimmed, when, who');
select is((select status from contacts where id = :contact), 'do_not_call'::contact_status, 'the contact is do_not_call');
select is((select (at, actor, action, subject, after ->> 'reason') from operator_audit_log),
          (tests.wednesday_noon(), 'operator:1:ana'::text, 'do_not_call.add'::text, 'do_not_call +15553330001'::text,
           'asked by letter'::text),
          'audited: when, who, what, on what number, why');

select is(admin_add_do_not_call('+15553330001', 'again', 'admin_token') ->> 'added', 'false', 'adding it again: added false');
select is((select count(*)::integer from operator_audit_log), 1, 'and nothing more is recorded');

select * from finish();
rollback;
