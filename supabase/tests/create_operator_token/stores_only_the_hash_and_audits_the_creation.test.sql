-- A named token is stored as its SHA-256 only, with who made it, its role and its expiry; its
-- creation is in the audit trail (without the hash, with the creator's role); a live name cannot be
-- given twice. The clock: Wednesday noon (tests.wednesday_noon()), passed as p_now.
begin;
\ir ../_helpers.psql
select plan(9);

create temp table made on commit drop as
  select * from create_operator_token('alice', sha256('op_alice-secret'), tests.wednesday_noon() + interval '30 days',
                                      'operator', 'admin_token', 'admin', null, tests.wednesday_noon());
select is((select (name, role) from made), ('alice'::text, 'operator'::text), 'the new token is answered with its name and role');
select is((select token_sha256 from operator_tokens), sha256('op_alice-secret'), 'the table keeps the SHA-256');
select is((select count(*)::integer from operator_tokens t where t::text like '%op_alice-secret%'), 0, 'and never the token');
select is((select (created_by, created_by_token_id, expires_at) from operator_tokens),
          ('admin_token'::text, null::bigint, tests.wednesday_noon() + interval '30 days'), 'who made it and when it expires');
select is((select (actor, actor_role, action, subject) from operator_audit_log),
          ('admin_token'::text, 'admin'::text, 'token.create'::text, 'alice'::text),
          'the creation is audited with the role of its maker');
select is((select after ? 'token_sha256' or after::text like '%' || encode(sha256('op_alice-secret'), 'hex') || '%' from operator_audit_log),
          false, 'the audit row holds no hash');
select throws_ok($$select * from create_operator_token('ALICE', sha256('other'), null, 'viewer', 'admin_token', 'admin')$$, '23505', null,
                 'a live name is not given twice (case-insensitive)');
select throws_ok($$select * from create_operator_token('12', sha256('twelve'), null, 'viewer', 'admin_token', 'admin')$$, '23514', null,
                 'a name of digits only is refused (ids are numbers, names never are)');
select lives_ok($$select * from create_operator_token('r2d2', sha256('r2d2'), null, 'viewer', 'admin_token', 'admin')$$,
                'digits inside a name are fine');

select * from finish();
rollback;
