-- Revoking finds the live token by name or id, stamps who revoked it, audits the row before and
-- after, and answers nothing for a name with no live token; the name can then be given again.
begin;
\ir ../_helpers.psql
select plan(7);

select * from create_operator_token('alice', sha256('a'), null, 'admin_token', null, tests.wednesday_noon());
select * from create_operator_token('bob', sha256('b'), null, 'admin_token', null, tests.wednesday_noon());

select is((select name from revoke_operator_token('Alice', 'operator:2:bob', 2, tests.wednesday_noon() + interval '1 hour')),
          'alice', 'a token is revoked by its name');
select is((select (revoked_at, revoked_by) from operator_tokens where name = 'alice'),
          (tests.wednesday_noon() + interval '1 hour', 'operator:2:bob'::text), 'with when and by whom');
select is((select (actor, actor_token_id, before ->> 'revoked_at', after ->> 'revoked_by') from operator_audit_log where action = 'token.revoke'),
          ('operator:2:bob'::text, 2::bigint, null::text, 'operator:2:bob'::text), 'the audit row has the token before and after');
select is((select count(*)::integer from revoke_operator_token('alice', 'admin_token')), 0, 'a revoked token is not revoked twice');
select is((select name from revoke_operator_token('2', 'admin_token')), 'bob', 'a token is revoked by its id');
select is((select count(*)::integer from revoke_operator_token('nobody', 'admin_token')), 0, 'an unknown name: no row');
select lives_ok($$select * from create_operator_token('alice', sha256('a2'), null, 'admin_token')$$, 'a revoked name can be given again');

select * from finish();
rollback;
