-- A named token is stored as its SHA-256 only, with who made it and its expiry; its creation is in
-- the audit trail (without the hash); a live name cannot be given twice, an expiry in the past is
-- refused.
begin;
\ir ../_helpers.psql
select plan(8);

create temp table made on commit drop as
  select * from create_operator_token('alice', sha256('op_alice-secret'), tests.wednesday_noon() + interval '30 days',
                                      'admin_token', null, tests.wednesday_noon());
select is((select name from made), 'alice', 'the new token is answered with its name');
select is((select token_sha256 from operator_tokens), sha256('op_alice-secret'), 'the table keeps the SHA-256');
select is((select count(*)::integer from operator_tokens t where t::text like '%op_alice-secret%'), 0, 'and never the token');
select is((select (created_by, expires_at) from operator_tokens),
          ('admin_token'::text, tests.wednesday_noon() + interval '30 days'), 'who made it and when it expires');
select is((select (actor, action, subject) from operator_audit_log), ('admin_token'::text, 'token.create'::text, 'alice'::text),
          'the creation is audited');
select is((select after ? 'token_sha256' or after::text like '%' || encode(sha256('op_alice-secret'), 'hex') || '%' from operator_audit_log),
          false, 'the audit row holds no hash');
select throws_ok($$select * from create_operator_token('ALICE', sha256('other'), null, 'admin_token')$$, '23505', null,
                 'a live name is not given twice (case-insensitive)');
select throws_ok($$select * from create_operator_token('bob', sha256('bob'), now() - interval '1 second', 'admin_token')$$, '22023', null,
                 'an expiry in the past is refused');

select * from finish();
rollback;
