-- Test case "1000 contacts -> Processes in batches": with a cap of 10, every round reserves exactly
-- the 10 free slots, never more, and the campaign progresses as calls end until it is COMPLETED.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(cap => 10) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 1000);

create temp table rounds (round integer, reserved integer, active_after_launch integer) on commit drop;

do $$
declare
  v_campaign bigint := (select id from public.campaigns);
  v_now timestamptz;
  v_reserved integer;
begin
  for v_round in 1..100 loop
    v_now := tests.wednesday_noon() + v_round * interval '1 second';
    v_reserved := tests.launch(v_now);
    insert into rounds values (v_round, v_reserved, tests.active_calls(v_campaign));
    perform tests.end_active_calls(v_campaign, 'completed', v_now);
  end loop;
end;
$$;

select is((select reserved from rounds where round = 1), 10, 'the first round reserves exactly the cap');
select is((select count(*)::integer from rounds where reserved = 10), 100, 'each of the 100 rounds reserves exactly 10');
select is((select max(active_after_launch) from rounds), 10, 'no round ever holds more than 10 active calls');
select is((select count(*)::integer from contacts where status = 'done'), 1000, 'after 100 rounds all 1000 contacts are done');
select is((select count(*)::integer from calls), 1000, 'with exactly one call each');

select results_eq(
  $$select campaign_status, outcome from launch_due_calls(tests.wednesday_noon() + interval '101 seconds')$$,
  $$values ('COMPLETED'::campaign_status, 'completed'::launch_outcome)$$,
  'the next round completes the campaign'
);
select is((select completed_at from campaigns), tests.wednesday_noon() + interval '101 seconds',
          'completed_at is the p_now of that round');

select * from finish();
rollback;
