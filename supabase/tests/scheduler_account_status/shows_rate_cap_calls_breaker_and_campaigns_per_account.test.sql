-- The Studio view of provider accounts: the effective rate (its own, or the global setting), the
-- cap, the calls counted against the account as launch_due_calls() counts them (queued and active,
-- over all its campaigns), its breaker (open_until only while open) and the campaigns using it.
begin;
\ir ../_helpers.psql
select plan(7);

update scheduler_settings set provider_calls_per_second = 3;
update provider_accounts set calls_per_second = null where id = 'default';
insert into provider_accounts (id, calls_per_second, max_concurrent_calls) values ('sub', 7.5, 4);

select tests.create_campaign(name => 'a on sub', cap => 3) as a \gset
select tests.create_campaign(name => 'b on sub', cap => 3, status => 'CANCELLED') as b \gset
select tests.create_campaign(name => 'c on default', cap => 2) as c \gset
update campaigns set provider_account = 'sub' where id in (:a, :b);
select count(*) from tests.add_contacts(:a, 5);
select count(*) from tests.add_contacts(:c, 5);
select tests.launch(tests.wednesday_noon());
select count(*) from claim_queued_calls(1, null, tests.wednesday_noon());

select is((select (calls_per_second, own_calls_per_second, max_concurrent_calls) from scheduler_account_status where id = 'default'),
          (3::numeric, null::numeric, null::integer), 'an account without its own rate shows the global one, and no cap');
select is((select (calls_per_second, own_calls_per_second, max_concurrent_calls) from scheduler_account_status where id = 'sub'),
          (7.5::numeric, 7.5::numeric, 4), 'an account with its own rate and cap shows them');
select is((select active_calls + (select active_calls from scheduler_account_status where id = 'default')
             from scheduler_account_status where id = 'sub'),
          (select count(*) from calls where status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')),
          'every live call is counted against exactly one account');
select is((select (active_calls, queued_calls) from scheduler_account_status where id = 'sub'),
          ((select count(*) from calls where campaign_id = :a), (select count(*) from calls where campaign_id = :a and status = 'queued')),
          'the account counts its campaigns'' queued and active calls');
select is((select (campaigns, live_campaigns, campaign_ids) from scheduler_account_status where id = 'sub'),
          (2::bigint, 1::bigint, array[:a, :b]::bigint[]), 'the campaigns using it: all, the live ones, their ids');

insert into provider_circuit_breakers (account, state, consecutive_failures, opened_at, open_until, last_failure_reason)
values ('sub', 'open', 5, tests.wednesday_noon(), tests.wednesday_noon() + interval '1 minute', 'Twilio 20003'),
       ('default', 'half_open', 5, tests.wednesday_noon(), tests.wednesday_noon(), 'timeout');
select is((select array_agg((id, breaker_state, breaker_open_until, breaker_last_failure_reason)::text order by id) from scheduler_account_status),
          array[('default', 'half_open', null, 'timeout')::text,
                ('sub', 'open', tests.wednesday_noon() + interval '1 minute', 'Twilio 20003')::text],
          'each account shows its own breaker; open_until only while open');
select is((select count(*)::integer from scheduler_account_status), (select count(*)::integer from provider_accounts),
          'one row per account');

select * from finish();
rollback;
