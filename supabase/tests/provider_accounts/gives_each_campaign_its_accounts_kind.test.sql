-- Accounts of every kind (twilio, signalwire, vapi, retell): a campaign's provider is its account's
-- kind (set on insert and when the account changes; the composite foreign key refuses a provider
-- changed apart from its account); what a campaign needs to dial
-- depends on the kind; account_sid fits its kind; a new Vapi account starts at 10 concurrent calls
-- and a Retell one at 20 unless told otherwise; a call is moved only by news from its own platform.
begin;
\ir ../_helpers.psql
select plan(14);

insert into provider_accounts (id, provider) values ('vapi-a', 'vapi'), ('retell-a', 'retell');

select tests.create_campaign() as c \gset
select is((select provider from campaigns where id = :c), 'twilio', 'a campaign on the default account is on twilio');
update campaigns set provider_account = 'vapi-a' where id = :c;
select is((select provider from campaigns where id = :c), 'vapi', 'choosing a vapi account moves it to vapi');
select is((select set_up_problem from campaigns where id = :c),
          'provider_settings needs assistant_id and phone_number_id (vapi)', 'a vapi campaign needs its assistant and number');
update campaigns set provider_settings = '{"assistant_id": "asst", "phone_number_id": "pn"}' where id = :c;
select is((select set_up_problem from campaigns where id = :c), null, '... and with them it can dial');
update campaigns set provider_account = 'retell-a', provider_settings = '{}' where id = :c;
select is((select (provider, set_up_problem)::text from campaigns where id = :c), '(retell,)',
          'a retell campaign needs only its caller id (the number''s agent answers)');
select throws_ok(format('update campaigns set provider = %L where id = %s', 'twilio', :c), '23503', null,
                 'its provider cannot be set apart from its account (the foreign key refuses it)');
select throws_ok(format('update campaigns set provider = %L where id = %s', 'plivo', :c), '23514', null,
                 'a provider that is no kind at all is named by its CHECK');

select throws_ok($$insert into provider_accounts (id, provider, account_sid) values ('v2', 'vapi', 'AC' || repeat('a', 32))$$,
                 '23514', null, 'a vapi account has no account_sid');
select lives_ok($$insert into provider_accounts (id, provider, account_sid) values ('sw', 'signalwire', '0f8e2b8a-1c2d-4e5f-8a9b-0c1d2e3f4a5b')$$,
                'a signalwire account names its project by UUID');
select throws_ok($$insert into provider_accounts (id, provider) values ('x', 'plivo')$$, '23514', null, 'an unknown kind is refused');

select is((admin_create_provider_account('{"id": "v3", "provider": "vapi"}', 'test') ->> 'max_concurrent_calls')::int, 10,
          'a new vapi account starts at 10 concurrent calls');
select is((admin_create_provider_account('{"id": "r3", "provider": "retell"}', 'test') ->> 'max_concurrent_calls')::int, 20,
          'a new retell account starts at 20');
select is(admin_create_provider_account('{"id": "r4", "provider": "retell", "max_concurrent_calls": null}', 'test') ->> 'max_concurrent_calls',
          null, 'an explicit null still means no cap of its own');

select tests.add_contacts(:c, 1) as ct \gset
select tests.dial(:ct, tests.wednesday_noon()) as call \gset
select is(apply_call_status(:call, 'vapi', 'vapi-id', 'completed', 30, p_now => tests.wednesday_noon() + interval '1 minute'),
          'wrong_account', 'news from another platform (vapi) does not move a retell call');

select * from finish();
rollback;
