-- Creating an account and changing its rate and cap from the admin API: only the keys given change
-- (null: back to the global rate / no own cap), the rate bucket (next_send_at) is never touched, the
-- table's CHECKs are the last word, and each write is audited with the row before and after
-- (without the bucket).
begin;
\ir ../_helpers.psql
select plan(12);

select is((admin_create_provider_account('{"id": "sub", "calls_per_second": 2, "max_concurrent_calls": 5}', 'admin_token', null, tests.wednesday_noon())
             ->> 'own_calls_per_second'), '2', 'created, answering its status row');
select throws_ok($$select admin_create_provider_account('{"id": "sub"}', 'admin_token')$$, '23505', null, 'an id already taken is refused');
select throws_ok($$select admin_create_provider_account('{"id": "Not A Slug"}', 'admin_token')$$, '23514', null, 'the id must be a slug (CHECK)');

select id as ann from create_operator_token('ann', sha256('a'), null, 'admin', 'admin_token', 'admin') \gset
update provider_accounts set next_send_at = tests.wednesday_noon() + interval '7 seconds' where id = 'sub';
select is((admin_update_provider_account('sub', '{"max_concurrent_calls": 9}', 'operator:1:ann', :ann, tests.wednesday_noon() + interval '1 minute')
             ->> 'max_concurrent_calls'), '9', 'the cap is changed');
select is((select (calls_per_second, max_concurrent_calls, next_send_at, updated_at) from provider_accounts where id = 'sub'),
          (2::numeric, 9, tests.wednesday_noon() + interval '7 seconds', tests.wednesday_noon() + interval '1 minute'),
          'the rate not given stays, the bucket is untouched');
select admin_update_provider_account('sub', '{"calls_per_second": null}', 'admin_token', null, tests.wednesday_noon());
select is((select (calls_per_second, max_concurrent_calls) from provider_accounts where id = 'sub'), (null::numeric, 9),
          'null gives the account back the global rate');
select throws_ok($$select admin_update_provider_account('sub', '{"calls_per_second": 0}', 'admin_token')$$, '23514', null,
                 'a rate out of bounds is refused (CHECK)');
select is((admin_update_provider_account('sub', format('{"account_sid": "AC%s"}', repeat('ab', 16))::jsonb, 'admin_token') ->> 'account_sid'),
          'AC' || repeat('ab', 16), 'the subaccount SID is set');
select throws_ok($$select admin_update_provider_account('sub', '{"account_sid": "AC12"}', 'admin_token')$$, '23514', null,
                 'a SID that is not a Twilio account SID is refused (CHECK)');
select is(admin_update_provider_account('nobody', '{"max_concurrent_calls": 1}', 'admin_token'), null, 'no such account: null');

select is((select array_agg(action || ' ' || subject || ' ' || actor order by id) from operator_audit_log),
          array['account.create account sub admin_token', 'token.create ann admin_token', 'account.update account sub operator:1:ann',
                'account.update account sub admin_token', 'account.update account sub admin_token'],
          'each write is audited, naming who');
select is((select (before ->> 'max_concurrent_calls', after ->> 'max_concurrent_calls', after ? 'next_send_at', before ? 'next_send_at')
             from operator_audit_log where actor = 'operator:1:ann'),
          ('5'::text, '9'::text, false, false), 'before and after, without the rate bucket');

select * from finish();
rollback;
