-- A CSV import batch: each new number added once (a repeated line or a listed number is
-- already_listed), a blank reason becomes 'imported', one audit row per number added with its line.
begin;
\ir ../_helpers.psql
select plan(5);

insert into do_not_call_numbers (phone, reason) values ('+15553350009', 'before');
select tests.create_campaign(name => 'a') as a \gset
select tests.add_contact(:a, '+15553350002') as contact \gset

select results_eq(
  $$select line, phone, outcome from admin_import_do_not_call(
      '[{"line": 2, "phone": "+15553350001", "reason": "letter"},
        {"line": 3, "phone": "+15553350002", "reason": ""},
        {"line": 4, "phone": "+15553350001", "reason": "again"},
        {"line": 5, "phone": "+15553350009", "reason": "x"}]', 'operator:3:cy', null, tests.wednesday_noon())$$,
  $$values (2, '+15553350001'::text, 'added'::text), (3, '+15553350002', 'added'),
           (4, '+15553350001', 'already_listed'), (5, '+15553350009', 'already_listed')$$,
  'each line with its outcome'
);
select results_eq($$select phone, reason, added_by from do_not_call_numbers order by phone$$,
                  $$values ('+15553350001'::text, 'letter'::text, 'operator:3:cy'::text),
                           ('+15553350002', 'imported', 'operator:3:cy'), ('+15553350009', 'before', null)$$,
                  'the list: the first line''s reason, a blank one as imported, the listed number untouched');
select results_eq($$select action, subject, (after ->> 'line')::integer from operator_audit_log order by subject$$,
                  $$values ('do_not_call.import'::text, 'do_not_call +15553350001'::text, 2),
                           ('do_not_call.import', 'do_not_call +15553350002', 3)$$,
                  'one audit row per number added, with its line');
select is((select status from contacts where id = :contact), 'do_not_call'::contact_status, 'its pending contact is marked');
select throws_ok($$select * from admin_import_do_not_call('{}', 'admin_token')$$, '22023', null, 'not an array: refused');

select * from finish();
rollback;
