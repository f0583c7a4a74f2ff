-- Revoking finds the live token by its id, never by its name (and a name is never digits only, so
-- no token can pass for another's id). It stamps who revoked it, audits the row before and after with
-- the revoker's role, and answers nothing for an id with no live token; the name can then be given
-- again. The clock: Wednesday noon (tests.wednesday_noon()), passed as p_now.
begin;
\ir ../_helpers.psql
select plan(8);

select * from create_operator_token('alice', sha256('a'), null, 'admin', 'admin_token', 'admin', null, tests.wednesday_noon());
select * from create_operator_token('bob', sha256('b'), null, 'viewer', 'admin_token', 'admin', null, tests.wednesday_noon());
select * from create_operator_token('x1', sha256('x'), null, 'viewer', 'admin_token', 'admin', null, tests.wednesday_noon());
create temp table ids on commit drop as select name, id from operator_tokens;

select is((select name from revoke_operator_token((select id from ids where name = 'alice'), 'operator:2:bob', 'admin', 2,
                                                  tests.wednesday_noon() + interval '1 hour')),
          'alice', 'a token is revoked by its id');
select is((select (revoked_at, revoked_by) from operator_tokens where name = 'alice'),
          (tests.wednesday_noon() + interval '1 hour', 'operator:2:bob'::text), 'with when and by whom');
select is((select (actor, actor_token_id, actor_role, before ->> 'revoked_at', after ->> 'revoked_by') from operator_audit_log
            where action = 'token.revoke'),
          ('operator:2:bob'::text, 2::bigint, 'admin'::text, null::text, 'operator:2:bob'::text),
          'the audit row has the token before and after, and the revoker''s role');
select is((select count(*)::integer from revoke_operator_token((select id from ids where name = 'alice'), 'admin_token', 'admin')), 0,
          'a revoked token is not revoked twice');
select is((select count(*)::integer from revoke_operator_token(999999, 'admin_token', 'admin')), 0, 'an unknown id: no row');
select is((select count(*)::integer from operator_tokens where revoked_at is null), 2, 'the other tokens are untouched');
select throws_ok($$select * from revoke_operator_token('bob', 'admin_token', 'admin')$$, '22P02', null,
                 'a name is not an id');
select lives_ok($$select * from create_operator_token('alice', sha256('a2'), null, 'viewer', 'admin_token', 'admin')$$,
                'a revoked name can be given again');

select * from finish();
rollback;
