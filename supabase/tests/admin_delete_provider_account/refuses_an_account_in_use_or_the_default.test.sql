-- Deleting a provider account: refused (55000) while campaigns dial through it, naming them, and
-- for 'default' (the campaigns' column default); an unused account goes with its breaker row and
-- is audited. The foreign key stays the last word under the function.
begin;
\ir ../_helpers.psql
select plan(7);

insert into provider_accounts (id) values ('busy'), ('spare');
select tests.create_campaign(name => 'a') as a \gset
update campaigns set provider_account = 'busy' where id = :a;
insert into provider_circuit_breakers (account, state) values ('spare', 'closed');

select throws_ok($$select admin_delete_provider_account('busy', 'admin_token')$$, '55000',
                 format('provider account "busy" is used by 1 campaign(s) (%s): move them to another account first', :a),
                 'an account in use is refused, naming its campaigns');
select throws_ok($$select admin_delete_provider_account('default', 'admin_token')$$, '55000',
                 'provider account "default" cannot be deleted: new campaigns dial through it', 'the default account stays');
select throws_ok($$delete from provider_accounts where id = 'busy'$$, '23503', null, 'the foreign key is the last word');
select is((admin_delete_provider_account('spare', 'admin_token', null, tests.wednesday_noon()) ->> 'id'), 'spare', 'an unused account is deleted');
select is((select count(*)::integer from provider_accounts where id = 'spare') + (select count(*)::integer from provider_circuit_breakers where account = 'spare'),
          0, 'with its breaker row');
select is((select (action, subject, before ->> 'id', after) from operator_audit_log),
          ('account.delete'::text, 'account spare'::text, 'spare'::text, null::jsonb), 'audited with the row before');
select is(admin_delete_provider_account('spare', 'admin_token'), null, 'no such account: null');

select * from finish();
rollback;
