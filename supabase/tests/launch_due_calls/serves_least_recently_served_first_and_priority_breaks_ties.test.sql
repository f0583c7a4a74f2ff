-- Fairness: campaigns that were served least recently go first (never served before all), and
-- priority (higher first) breaks ties; p_max_campaigns limits how many campaigns one run examines.
begin;
\ir ../_helpers.psql
select plan(6);

update scheduler_settings set global_max_concurrent_calls = 2;
select tests.create_campaign(name => 'served an hour ago', last_served_at => tests.wednesday_noon() - interval '1 hour') as a \gset
select tests.create_campaign(name => 'served two hours ago', last_served_at => tests.wednesday_noon() - interval '2 hours') as b \gset
select tests.create_campaign(name => 'never served') as c \gset
select tests.create_campaign(name => 'served an hour ago, priority 5', priority => 5, last_served_at => tests.wednesday_noon() - interval '1 hour') as d \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 3);

select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon()) l join campaigns c on c.id = l.campaign_id$$,
  $$values ('never served', 1), ('served two hours ago', 1), ('served an hour ago, priority 5', 0), ('served an hour ago', 0)$$,
  'serving order: never served, then oldest last_served_at, priority breaking the tie; the 2 global slots go to the first two'
);

-- p_max_campaigns: three fresh campaigns, plenty of global room, only two examined per run.
truncate calls, contacts, campaigns restart identity;
update scheduler_settings set global_max_concurrent_calls = 100;
select tests.create_campaign(name => 'low', priority => 0) as low \gset
select tests.create_campaign(name => 'high', priority => 5) as high \gset
select tests.create_campaign(name => 'middle', priority => 1) as middle \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 1);

select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon(), 2) l join campaigns c on c.id = l.campaign_id$$,
  $$values ('high', 1), ('middle', 1)$$,
  'with p_max_campaigns => 2 and no campaign served yet, the two of highest priority are examined'
);
select is((select count(*)::integer from calls where campaign_id = :low), 0, 'the third campaign gets nothing this run');
select is((select last_served_at from campaigns where id = :low), null, 'and is not marked served');

select results_eq(
  $$select c.name, l.reserved from launch_due_calls(tests.wednesday_noon() + interval '1 minute', 2) l join campaigns c on c.id = l.campaign_id$$,
  $$values ('low', 1), ('high', 0)$$,
  'the next run starts with the campaign left out, then the next in line'
);
select throws_ok(
  $$select * from launch_due_calls(tests.wednesday_noon(), 0)$$,
  '22023',
  'p_max_campaigns must be at least 1, got 0',
  'p_max_campaigns below 1 is refused'
);

select * from finish();
rollback;
