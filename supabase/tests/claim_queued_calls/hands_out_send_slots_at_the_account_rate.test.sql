-- claim_queued_calls() gives every claimed call a send slot from its provider account's rate bucket
-- (provider_accounts.next_send_at): slots (1000 + rate_margin_ms) / calls_per_second ms apart, shared
-- by every claim (every dispatcher), only within p_horizon_ms; a 429's hold_until holds the bucket back
-- for everyone; each account has its own bucket.
begin;
\ir ../_helpers.psql
select plan(13);

update scheduler_settings set rate_margin_ms = 30, provider_calls_per_second = 2;
update provider_accounts set calls_per_second = null where id = 'default';  -- 2/s from the settings
insert into provider_accounts (id, calls_per_second) values ('sub', 1);

select tests.create_campaign(cap => 20) as a \gset
select tests.create_campaign(cap => 20) as b \gset
update campaigns set provider_account = 'sub' where id = :b;
select count(*) from tests.add_contacts(:a, 10);
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
select is((select count(*)::integer from calls where status = 'queued'), 14, 'the calls beyond the horizon stay queued');
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

-- p_lead_ms: no slot earlier than that after p_now; the call is claimed (dialed_at) at p_now.
create temp table lead_claim on commit drop as
  select * from claim_queued_calls(1, null, tests.wednesday_noon() + interval '1 minute', null, 1000, 100);
select is((select min(send_at) from lead_claim), tests.wednesday_noon() + interval '1 minute 100 milliseconds',
          'no slot earlier than p_lead_ms after p_now');
select is((select c.dialed_at from calls c join lead_claim l on l.call_id = c.id),
          tests.wednesday_noon() + interval '1 minute', 'dialed_at is the time of the claim (p_now)');

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

select throws_ok($$select * from claim_queued_calls(1, null, now(), null, -1)$$, '22023', null, 'a negative horizon is refused');
select throws_ok($$select * from claim_queued_calls(1, null, now(), null, 600001)$$, '22023', null, 'a horizon over 10 minutes is refused');

select * from finish();
rollback;
