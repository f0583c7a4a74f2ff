-- Expiry and role of a new token. The clock: Wednesday noon (tests.wednesday_noon()), passed as
-- p_now; no expiry given is 90 days, an explicit one must be after p_now and at most 365 days away;
-- a token made by another named token never outlives it (a default expiry is cut to it, a later
-- explicit one refused) and never outranks it; no credential makes a token above its own role.
begin;
\ir ../_helpers.psql
select plan(12);

select is((select expires_at from create_operator_token('a', sha256('a'), null, 'viewer', 'admin_token', 'admin', null, tests.wednesday_noon())),
          tests.wednesday_noon() + interval '90 days', 'no expiry given: 90 days');
select is((select expires_at from create_operator_token('b', sha256('b'), tests.wednesday_noon() + interval '365 days', 'viewer',
                                                         'admin_token', 'admin', null, tests.wednesday_noon())),
          tests.wednesday_noon() + interval '365 days', 'an expiry 365 days away is accepted');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), %L, %L, %L, %L, null, %L)', 'c', 'c',
                        tests.wednesday_noon() + interval '365 days 1 second', 'viewer', 'admin_token', 'admin', tests.wednesday_noon()),
                 '22023', 'expires_at must be at most 365 days away', 'more than 365 days away is refused');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), %L, %L, %L, %L, null, %L)', 'c', 'c',
                        tests.wednesday_noon(), 'viewer', 'admin_token', 'admin', tests.wednesday_noon()),
                 '22023', 'expires_at must be in the future', 'an expiry that is not in the future is refused');
select throws_ok($$insert into operator_tokens (name, token_sha256, created_by, created_at, expires_at)
                   values ('d', sha256('d'), 'x', now(), now() + interval '366 days')$$,
                 '23514', null, 'the table itself refuses a token of more than a year');

-- An operator token 'op' (id known) valid 10 days, making tokens of its own.
create temp table op on commit drop as
  select * from create_operator_token('op', sha256('op'), tests.wednesday_noon() + interval '10 days', 'operator',
                                      'admin_token', 'admin', null, tests.wednesday_noon());
select is((select expires_at from create_operator_token('child', sha256('child'), null, 'viewer', 'operator:' || (select id from op) || ':op',
                                                         'operator', (select id from op), tests.wednesday_noon() + interval '1 day')),
          tests.wednesday_noon() + interval '10 days', 'a default expiry is cut to the creating token''s');
select is((select (created_by_token_id, role) from operator_tokens where name = 'child'), ((select id from op), 'viewer'::text),
          'the child names the token that made it');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), %L, %L, %L, %L, %s, %L)', 'late', 'late',
                        tests.wednesday_noon() + interval '11 days', 'viewer', 'operator:x', 'operator', (select id from op),
                        tests.wednesday_noon()),
                 '22023', null, 'an explicit expiry later than the creating token''s is refused');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), null, %L, %L, %L, %s, %L)', 'boss', 'boss',
                        'admin', 'operator:x', 'operator', (select id from op), tests.wednesday_noon()),
                 '42501', 'a credential of role operator cannot create a token of role admin', 'an operator cannot make an admin token');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), null, %L, %L, %L, null, %L)', 'v2', 'v2',
                        'operator', 'user:u', 'viewer', tests.wednesday_noon()),
                 '42501', null, 'a viewer cannot make an operator token');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), null, %L, %L, %L, %s, %L)', 'after', 'after',
                        'viewer', 'operator:x', 'operator', (select id from op), tests.wednesday_noon() + interval '10 days'),
                 '42501', null, 'an expired token makes nothing');
select throws_ok(format('select * from create_operator_token(%L, sha256(%L), null, %L, %L, %L, null, %L)', 'odd', 'odd',
                        'root', 'admin_token', 'admin', tests.wednesday_noon()),
                 '22023', null, 'an unknown role is refused');

select * from finish();
rollback;
