-- Containment: every live token a credential made, and every token those tokens made in turn, is
-- revoked in one call, each audited as token.revoke; tokens made by others stay. A Supabase user is
-- named by user:<sub> whatever their email; a named token by operator:<id> whatever its name.
-- The clock: Wednesday noon (tests.wednesday_noon()), passed as p_now.
begin;
\ir ../_helpers.psql
select plan(8);

-- mallory (an operator token, made by admin_token) makes m1; m1 makes m2. A user u1 makes u-tok.
-- carol, made by admin_token, stays; so does 'operator1x', made by a user whose sub starts alike.
select * from create_operator_token('mallory', sha256('mallory'), null, 'operator', 'admin_token', 'admin', null, tests.wednesday_noon());
create temp table t on commit drop as select id from operator_tokens where name = 'mallory';
select * from create_operator_token('m1', sha256('m1'), null, 'operator', 'operator:' || (select id from t) || ':mallory', 'operator',
                                   (select id from t), tests.wednesday_noon());
select * from create_operator_token('m2', sha256('m2'), null, 'viewer', 'operator:' || (select id from operator_tokens where name = 'm1') || ':m1',
                                   'operator', (select id from operator_tokens where name = 'm1'), tests.wednesday_noon());
select * from create_operator_token('carol', sha256('carol'), null, 'operator', 'admin_token', 'admin', null, tests.wednesday_noon());
select * from create_operator_token('u-tok', sha256('u-tok'), null, 'operator', 'user:u1:u1@example.org', 'operator', null, tests.wednesday_noon());
select * from create_operator_token('u1x-tok', sha256('u1x'), null, 'operator', 'user:u1x:x@example.org', 'operator', null, tests.wednesday_noon());
-- m1 is already revoked: m2 (its child) is still found through it.
select * from revoke_operator_token((select id from operator_tokens where name = 'm1'), 'admin_token', 'admin', null, tests.wednesday_noon());

select is((select array_agg(name order by name) from revoke_operator_tokens_by_creator('operator:' || (select id from t), 'admin_token', 'admin',
                                                                                        null, tests.wednesday_noon() + interval '1 hour')),
          array['m2'], 'what mallory made, and what that made, is revoked (the revoked m1 not twice)');
select is((select revoked_at is null from operator_tokens where name = 'mallory'), true, 'mallory itself stays live (revoked by its id, or with what admin_token made)');
select is((select (actor, actor_role, after ->> 'revoked_because') from operator_audit_log where action = 'token.revoke' and subject = 'm2'),
          ('admin_token'::text, 'admin'::text, 'made by operator:' || (select id from t)), 'each one audited, saying why');
select is((select array_agg(name order by name) from revoke_operator_tokens_by_creator('user:u1', 'admin_token', 'admin', null,
                                                                                        tests.wednesday_noon() + interval '1 hour')),
          array['u-tok'], 'a user is named by their subject, whatever their email; user:u1x is another user');
select is((select count(*)::integer from revoke_operator_tokens_by_creator('user:u1', 'admin_token', 'admin', null,
                                                                            tests.wednesday_noon() + interval '2 hours')),
          0, 'nothing twice');
select is((select array_agg(name order by name) from revoke_operator_tokens_by_creator('admin_token', 'cli:root', 'admin', null,
                                                                                        tests.wednesday_noon() + interval '3 hours')),
          array['carol', 'mallory'], 'everything the bootstrap credential made');
select is((select array_agg(name order by name) from operator_tokens where revoked_at is null), array['u1x-tok'],
          'only the other user''s token stays');
select throws_ok($$select * from revoke_operator_tokens_by_creator(' ', 'admin_token', 'admin')$$, '22023', null, 'a blank creator is refused');

select * from finish();
rollback;
