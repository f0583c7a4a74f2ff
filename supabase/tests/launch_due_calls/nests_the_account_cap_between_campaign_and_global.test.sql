-- Caps nest: campaign <= provider account <= global. An account's max_concurrent_calls limits the
-- active calls of all its campaigns together, counted from the call rows in the same statement.
begin;
\ir ../_helpers.psql
select plan(6);

update scheduler_settings set global_max_concurrent_calls = 12;
insert into provider_accounts (id, max_concurrent_calls) values ('sub', 5);

select tests.create_campaign(name => 'a on sub', cap => 4) as a \gset
select tests.create_campaign(name => 'b on sub', cap => 4) as b \gset
select tests.create_campaign(name => 'c on default', cap => 10) as c \gset
update campaigns set provider_account = 'sub' where id in (:a, :b);
select count(*) from tests.add_contacts(:a, 10);
select count(*) from tests.add_contacts(:b, 10);
select count(*) from tests.add_contacts(:c, 20);

select tests.launch(tests.wednesday_noon());
select is(tests.active_calls(:a) + tests.active_calls(:b), 5, 'the account''s campaigns together stop at the account cap');
select ok(tests.active_calls(:a) <= 4 and tests.active_calls(:b) <= 4, 'each campaign stays within its own cap');
select is(tests.active_calls(), 12, 'the rest of the global room goes to the other account''s campaign');

-- A slot freed in the account is refilled within the account, never beyond it.
select tests.end_active_calls(:a, 'no_answer', tests.wednesday_noon() + interval '1 minute') > 0 as ended \gset
select tests.launch(tests.wednesday_noon() + interval '2 minutes');
select is(tests.active_calls(:a) + tests.active_calls(:b), 5, 'after slots free up, the account is refilled to its cap, not beyond');

update provider_accounts set max_concurrent_calls = null where id = 'sub';
update scheduler_settings set global_max_concurrent_calls = 100;
select tests.launch(tests.wednesday_noon() + interval '3 minutes');
select is(tests.active_calls(:a) + tests.active_calls(:b), 8, 'without an account cap, the campaign caps apply');
select is((select count(*)::integer from tests.invariant_violations()), 0, 'no invariant is broken');

select * from finish();
rollback;
