-- Invariant 4: a reserved call is handed to a dispatcher at most once. Successive claims return
-- disjoint calls, and a call that is dialing, unknown or finished is never claimed again.
-- (Concurrent claims over separate connections are raced in test/db/launch-races.test.ts.)
begin;
\ir ../_helpers.psql
select plan(4);

select tests.create_campaign(cap => 10) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 6);
select tests.launch(tests.wednesday_noon());

create temp table first_claim on commit drop as select call_id from claim_queued_calls(3, null, tests.wednesday_noon());
create temp table second_claim on commit drop as select call_id from claim_queued_calls(3, null, tests.wednesday_noon());

select is((select count(*)::integer from first_claim join second_claim using (call_id)), 0,
          'two successive claims share no call');
select is((select count(distinct call_id)::integer from (table first_claim union all table second_claim) u), 6,
          'together they claimed all 6 calls');

select record_dispatch_result(call_id, 'unknown', p_reason => 'timeout', p_now => tests.wednesday_noon()) from first_claim;
select is((select count(*)::integer from claim_queued_calls(100, null, tests.wednesday_noon() + interval '1 minute')), 0,
          'dialing and unknown calls are never claimed again');
select is((select count(*)::integer from calls where dialed_at is not null), 6, 'each call was dialled exactly once');

select * from finish();
rollback;
