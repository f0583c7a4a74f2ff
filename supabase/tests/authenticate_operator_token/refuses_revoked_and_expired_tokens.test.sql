-- A token authenticates (with its role) while it is neither revoked nor expired; the use is noted
-- at most once a minute. The clock: Wednesday noon (tests.wednesday_noon()), passed as p_now.
begin;
\ir ../_helpers.psql
select plan(7);

select * from create_operator_token('alice', sha256('a'), tests.wednesday_noon() + interval '1 day', 'operator', 'admin_token', 'admin', null,
                                   tests.wednesday_noon());
select * from create_operator_token('bob', sha256('b'), null, 'viewer', 'admin_token', 'admin', null, tests.wednesday_noon());

select is((select name || ' ' || role from authenticate_operator_token(sha256('a'), tests.wednesday_noon() + interval '1 hour')), 'alice operator',
          'a valid token names its operator');
select is((select last_used_at from operator_tokens where name = 'alice'), tests.wednesday_noon() + interval '1 hour', 'its use is noted');
select is((select name from authenticate_operator_token(sha256('a'), tests.wednesday_noon() + interval '1 hour 30 seconds')), 'alice',
          'a second use within the minute still authenticates');
select is((select last_used_at from operator_tokens where name = 'alice'), tests.wednesday_noon() + interval '1 hour',
          'without a write');
select is((select count(*)::integer from authenticate_operator_token(sha256('a'), tests.wednesday_noon() + interval '1 day')), 0,
          'an expired token (at its expiry) is refused');
select * from revoke_operator_token((select id from operator_tokens where name = 'bob'), 'admin_token', 'admin', null, tests.wednesday_noon());
select is((select count(*)::integer from authenticate_operator_token(sha256('b'), tests.wednesday_noon() + interval '1 second')), 0,
          'a revoked token is refused');
select is((select count(*)::integer from authenticate_operator_token(sha256('unknown'), tests.wednesday_noon())), 0,
          'an unknown token is refused');

select * from finish();
rollback;
