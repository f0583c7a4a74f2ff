-- Fairness under the global cap (invariant 1): campaigns share global_max_concurrent_calls
-- round-robin, every campaign's first call before anyone's second, and the system never holds more
-- active calls than the global cap.
begin;
\ir ../_helpers.psql
select plan(7);

update scheduler_settings set global_max_concurrent_calls = 7;
select tests.create_campaign(name => 'A', cap => 5) as a \gset
select tests.create_campaign(name => 'B', cap => 5) as b \gset
select tests.create_campaign(name => 'C', cap => 5) as c \gset
select count(*) from tests.add_contacts(:a, 6);
select count(*) from tests.add_contacts(:b, 6);
select count(*) from tests.add_contacts(:c, 6);

select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon()) l join campaigns c on c.id = l.campaign_id$$,
  $$values ('A', 3), ('B', 2), ('C', 2)$$,
  '7 slots over 3 campaigns: one each, one each again, then the first in serving order gets the 7th'
);
select is(tests.active_calls(), 7, 'the system holds exactly the global cap');

select is(tests.launch(tests.wednesday_noon() + interval '1 minute'), 0,
          'with the global cap reached nothing more is reserved, although every campaign has room');

-- C's two calls end. All three campaigns were served at noon, so A and B come first (by id).
select tests.end_active_calls(:c, 'completed', tests.wednesday_noon() + interval '2 minutes');
select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon() + interval '3 minutes') l join campaigns c on c.id = l.campaign_id$$,
  $$values ('A', 1), ('B', 1), ('C', 0)$$,
  'two freed slots go round-robin in serving order: A and B'
);
select is(tests.active_calls(), 7, 'still exactly the global cap');

-- C, which got nothing, has now been served least recently: the round-robin starts with it.
select tests.end_active_calls(:a, 'completed', tests.wednesday_noon() + interval '4 minutes');
select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon() + interval '5 minutes') l join campaigns c on c.id = l.campaign_id$$,
  $$values ('C', 2), ('A', 1), ('B', 1)$$,
  'the 4 slots A freed go round-robin from the least recently served campaign: C, A, B, then C again'
);
select is(tests.active_calls(), 7, 'and the global cap still holds');

select * from finish();
rollback;
