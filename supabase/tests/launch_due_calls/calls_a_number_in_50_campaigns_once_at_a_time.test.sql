-- One person, one call: a phone number present in 50 campaigns has at most one active
-- call across all of them: one tick reserves it once, the next ticks skip it while that call is
-- active, and another campaign gets it once the call ended. The partial unique index
-- calls_one_active_per_number backs it.
begin;
\ir ../_helpers.psql
select plan(7);

select array_agg(tests.create_campaign(name => 'campaign ' || i, cap => 5, window_start => '00:00', window_end => '23:59',
                                       window_days => '{1,2,3,4,5,6,7}')) as campaigns
  from generate_series(1, 50) i \gset
select count(tests.add_contact(c, '+15551230000')) from unnest(:'campaigns'::bigint[]) c;
-- And a number of its own per campaign, so each campaign still has work.
select count(tests.add_contact(c, '+1555124' || lpad(o::text, 4, '0'))) from unnest(:'campaigns'::bigint[]) with ordinality as u(c, o);

select is(tests.launch(tests.wednesday_noon()), 51, 'the first tick: each own number, and the shared number once');
select is((select count(*)::integer from calls where to_phone = '+15551230000'), 1, 'one call to the shared number');

select is(tests.launch(tests.wednesday_noon() + interval '1 minute'), 0, 'while it is active, no campaign reserves it again');

select throws_ok(
  format($$insert into calls (campaign_id, contact_id, attempt, to_phone)
           select ct.campaign_id, ct.id, 1, ct.phone from contacts ct
            where ct.phone = '+15551230000' and ct.status = 'pending' limit 1$$),
  '23505', null, 'a second active call to the number is refused by calls_one_active_per_number');

-- The call ends (busy): another campaign may now call the number, still once.
select tests.end_active_calls(campaign_id, 'busy', tests.wednesday_noon() + interval '2 minutes')
  from calls where to_phone = '+15551230000';
select is(tests.launch(tests.wednesday_noon() + interval '3 minutes'), 1, 'after it ended, the next tick reserves it once');
select is((select count(distinct campaign_id)::integer from calls where to_phone = '+15551230000'), 2,
  'from another campaign');
select is((select count(*)::integer from calls where to_phone = '+15551230000'
             and status in ('queued', 'dialing', 'unknown', 'ringing', 'in_progress')), 1, 'one active call to it');

select * from finish();
rollback;
