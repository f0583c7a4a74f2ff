-- launch_due_calls() relies on every statement seeing the commits of the previous lock holder,
-- which only READ COMMITTED guarantees: under REPEATABLE READ it refuses to run.
begin isolation level repeatable read;
\ir ../_helpers.psql
select plan(2);

select tests.create_campaign() as campaign_id \gset
select tests.add_contacts(:campaign_id, 2);

select throws_ok(
  $$select * from launch_due_calls(tests.wednesday_noon())$$,
  '25000',
  'launch_due_calls() must run in a READ COMMITTED transaction, not repeatable read',
  'under REPEATABLE READ launch_due_calls() raises invalid_transaction_state'
);
select is((select count(*)::integer from calls), 0, 'and reserves nothing');

select * from finish();
rollback;
