-- A campaign chooses its provider account through the admin functions: the account is written and
-- audited before/after; an unknown account raises 23503 naming it (on create, nothing is left behind;
-- on edit, the campaign keeps its account).
begin;
\ir ../_helpers.psql
select plan(6);

insert into provider_accounts (id) values ('sub');
select (admin_create_campaign('{"name": "on sub", "provider_account": "sub"}', 'admin_token', null, tests.wednesday_noon()) ->> 'id')::bigint as id \gset
select is((select provider_account from campaigns where id = :id), 'sub', 'created on the account given');
select is((admin_create_campaign('{"name": "on default"}', 'admin_token') ->> 'provider_account'), 'default', 'without one: the default account');

select throws_ok($$select admin_create_campaign('{"name": "lost", "provider_account": "nowhere"}', 'admin_token')$$, '23503',
                 'unknown provider account "nowhere"', 'an unknown account is refused by name on create');
select is((select count(*)::integer from campaigns where name = 'lost'), 0, 'and nothing is left behind');
select throws_ok(format($$select admin_update_campaign(%s, '{"provider_account": "nowhere"}', 'admin_token')$$, :id), '23503',
                 'unknown provider account "nowhere"', 'and on edit');

select admin_update_campaign(:id, '{"provider_account": "default"}', 'admin_token', null, tests.wednesday_noon());
select is((select (before ->> 'provider_account', after ->> 'provider_account') from operator_audit_log
            where action = 'campaign.update' and subject = 'campaign ' || :id),
          ('sub'::text, 'default'::text), 'a move is audited with the account before and after');

select * from finish();
rollback;
