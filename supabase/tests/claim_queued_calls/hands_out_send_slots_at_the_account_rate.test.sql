-- claim_queued_calls() gives every claimed call a send slot from its provider account's rate bucket
-- (provider_accounts.next_send_at): slots (1000 + rate_margin_ms) / calls_per_second ms apart, shared
-- by every claim (every dispatcher), only within p_horizon_ms; a 429's hold_until holds the bucket back
-- for everyone; each account has its own bucket; a claim's shift is kept in the bucket, and the
-- part its caller did not use comes back with the next claim.
begin;
\ir ../_helpers.psql
select plan(19);

update scheduler_settings set rate_margin_ms = 30, provider_calls_per_second = 2;
update provider_accounts set calls_per_second = null where id = 'default';  -- 2/s from the settings
insert into provider_accounts (id, calls_per_second) values ('sub', 1);

select tests.create_campaign(cap => 20) as a \gset
select tests.create_campaign(cap => 20) as b \gset
update campaigns set provider_account = 'sub' where id = :b;
select count(*) from tests.add_contacts(:a, 20);
select count(*) from tests.add_contacts(:b, 10);
select tests.launch(tests.wednesday_noon());

create temp table first_claim on commit drop as
  select * from claim_queued_calls(20, null, tests.wednesday_noon(), null, 1600);

select results_eq(
  $$select provider_account, (extract(epoch from send_at - tests.wednesday_noon()) * 1000)::integer
      from first_claim order by provider_account, send_at$$,
  $$values ('default', 0), ('default', 515), ('default', 1030), ('default', 1545), ('sub', 0), ('sub', 1030)$$,
  'slots are (1000 + margin) / rate apart per account, and only within the horizon (1,600 ms)'
);
select is((select count(*)::integer from calls where status = 'queued'), 24, 'the calls beyond the horizon stay queued');
select is(
  (select next_send_at from provider_accounts where id = 'default'),
  tests.wednesday_noon() + interval '2060 milliseconds',
  'the bucket remembers the next free slot'
);

-- A second dispatcher claiming at the same instant continues where the first stopped.
create temp table second_claim on commit drop as
  select * from claim_queued_calls(20, null, tests.wednesday_noon(), null, 3000);
select results_eq(
  $$select provider_account, (extract(epoch from send_at - tests.wednesday_noon()) * 1000)::integer
      from second_claim order by provider_account, send_at$$,
  $$values ('default', 2060), ('default', 2575), ('sub', 2060)$$,
  'a concurrent claim gets the next slots, never the same ones'
);

-- Every pair of consecutive slots of one account, over both claims, is at least a slot apart.
select is(
  (select count(*)::integer from (
     select send_at - lag(send_at) over (partition by provider_account order by send_at) as gap, provider_account
       from (select * from first_claim union all select * from second_claim) s) g
    where g.gap < case when g.provider_account = 'sub' then interval '1030 ms' else interval '515 ms' end),
  0,
  'no two slots of an account closer than (1000 + margin) / rate'
);

-- A 503 (retryable, no hold) for a 'default' call leaves the buckets alone; a 429 (retryable,
-- hold_until in 10 s) for a 'sub' call holds the 'sub' bucket back for everyone.
select tests.record_batch(tests.wednesday_noon() + interval '100 ms',
  tests.answer((select call_id from first_claim where provider_account = 'default' order by send_at limit 1),
               'retryable', retry_at => tests.wednesday_noon() + interval '30 seconds'),
  tests.answer((select call_id from first_claim where provider_account = 'sub' order by send_at limit 1),
               'retryable', retry_at => tests.wednesday_noon() + interval '10 seconds')
    || jsonb_build_object('hold_until', tests.wednesday_noon() + interval '10 seconds'));
select is(
  (select next_send_at from provider_accounts where id = 'sub'),
  tests.wednesday_noon() + interval '10 seconds',
  'a 429 holds the account''s bucket until its retry time'
);
select is(
  (select count(*)::integer from claim_queued_calls(20, null, tests.wednesday_noon() + interval '5 seconds', null, 1000)
    where provider_account = 'sub'),
  0,
  'no call of the held account is claimed before then'
);
select ok(
  (select next_send_at from provider_accounts where id = 'default') between tests.wednesday_noon() + interval '3 seconds'
                                                                        and tests.wednesday_noon() + interval '10 seconds',
  'the other account''s bucket goes on (a 503 holds no bucket)'
);

-- An account slower than the horizon: a claim just after its send still gets its next slot (the
-- horizon stretches to one of the account's slots, 1,030 ms for 'sub'), and no earlier than that.
create temp table slow_first on commit drop as
  select * from claim_queued_calls(20, null, tests.wednesday_noon() + interval '2 minutes', null, 500);
create temp table slow_next on commit drop as
  select * from claim_queued_calls(20, null, tests.wednesday_noon() + interval '2 minutes 10 milliseconds', null, 500);
select results_eq(
  $$select (extract(epoch from send_at - tests.wednesday_noon() - interval '2 minutes') * 1000)::integer
      from (select * from slow_first union all select * from slow_next) s
     where provider_account = 'sub' order by send_at$$,
  $$values (0), (1030)$$,
  'a claim 10 ms after a 1-per-second account''s send gets its next slot, 1,030 ms on, past the 500 ms horizon'
);

-- p_shift_ms: the slots start at the claim's instant; the bucket keeps the shift after the last slot
-- and says so (bucket_until); the calls are claimed (dialed_at) at p_now. From here only 'default'
-- calls are claimed (campaign b's are released, paused).
update campaigns set status = 'PAUSED' where id = :b;
create temp table shift_claim on commit drop as
  select * from claim_queued_calls(20, null, tests.wednesday_noon() + interval '3 minutes', null, 0, 100)
   where release_reason is null;
select results_eq(
  $$select (extract(epoch from send_at - tests.wednesday_noon() - interval '3 minutes') * 1000)::integer from shift_claim order by send_at$$,
  $$values (0), (515)$$,
  'with a shift, the first slot is still the claim''s instant'
);
select is((select distinct bucket_until from shift_claim),
          (select next_send_at from provider_accounts where id = 'default'),
          'bucket_until is the account''s bucket after the claim');
select is((select distinct bucket_until from shift_claim),
          tests.wednesday_noon() + interval '3 minutes 1130 milliseconds',
          'the bucket keeps a slot (515 ms) plus the shift (100 ms) after the last slot');
select is((select distinct c.dialed_at from calls c join shift_claim l on l.call_id = c.id),
          tests.wednesday_noon() + interval '3 minutes', 'dialed_at is the time of the claim (p_now)');

-- p_give_back: the next claim hands back the 80 ms of the shift its caller did not use; the next
-- slot is then a slot after the last one plus the 20 ms used. A give-back naming a bucket that moved
-- on since (another claim took slots after it) changes nothing.
select is(
  (select send_at from claim_queued_calls(1, null, tests.wednesday_noon() + interval '3 minutes 200 milliseconds', null, 1000, 0,
                                          jsonb_build_array(jsonb_build_object(
                                            'account', 'default', 'until', (select max(bucket_until) from shift_claim), 'ms', 80)))),
  tests.wednesday_noon() + interval '3 minutes 1050 milliseconds',
  'the unused shift went back to the bucket: the next slot is 515 ms after the last one plus the 20 ms used'
);
select is(
  (select send_at from claim_queued_calls(1, null, tests.wednesday_noon() + interval '3 minutes 300 milliseconds', null, 2000, 0,
                                          jsonb_build_array(jsonb_build_object(
                                            'account', 'default', 'until', (select max(bucket_until) from shift_claim), 'ms', 80)))),
  tests.wednesday_noon() + interval '3 minutes 1565 milliseconds',
  'a give-back for a bucket another claim moved on is ignored: the slot follows that claim''s'
);

select throws_ok($$select * from claim_queued_calls(1, null, now(), null, -1)$$, '22023', null, 'a negative horizon is refused');
select throws_ok($$select * from claim_queued_calls(1, null, now(), null, 600001)$$, '22023', null, 'a horizon over 10 minutes is refused');
select throws_ok($$select * from claim_queued_calls(1, null, now(), null, 1000, -1)$$, '22023', null, 'a negative shift is refused');
select throws_ok($$select * from claim_queued_calls(1, null, now(), null, 1000, 0, '{}')$$, '22023', null,
                 'a give-back that is not an array is refused');

select * from finish();
rollback;
