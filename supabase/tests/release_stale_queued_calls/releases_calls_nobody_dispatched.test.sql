-- Invariant 3 and 6: a queued call that no dispatcher took within queued_call_ttl (10 minutes), or
-- whose campaign is no longer QUEUED/RUNNING, is released back to its contact without counting an
-- attempt, and frees its slot.
begin;
\ir ../_helpers.psql
select plan(7);

select tests.create_campaign(name => 'forgotten') as forgotten_id \gset
select tests.create_campaign(name => 'paused') as paused_id \gset
select count(*) from campaigns c, tests.add_contacts(c.id, 1);
select tests.launch(tests.wednesday_noon());

select is(release_stale_queued_calls(tests.wednesday_noon() + interval '9 minutes'), 0, 'a queued call 9 minutes old stays');

update campaigns set status = 'PAUSED' where id = :paused_id;
select is(release_stale_queued_calls(tests.wednesday_noon() + interval '9 minutes'), 1,
          'a queued call of a paused campaign is released at once');
select is((select error from calls where campaign_id = :paused_id), 'released before dialling: campaign is paused', 'with the reason');

select is(release_stale_queued_calls(tests.wednesday_noon() + interval '11 minutes'), 1, 'a queued call 11 minutes old is released');
select results_eq(
  format('select status, released_at, dialed_at, error from calls where campaign_id = %s', :forgotten_id),
  $$values ('canceled'::call_status, tests.wednesday_noon() + interval '11 minutes', null::timestamptz,
            'released before dialling: waited in queue longer than queued_call_ttl')$$,
  'it is canceled, released at p_now, never dialled'
);
select results_eq(
  'select status, attempts from contacts order by id',
  $$values ('pending'::contact_status, 0), ('pending', 0)$$,
  'the contacts are pending again and no attempt was counted'
);
select is(tests.active_calls(), 0, 'both slots are free');

select * from finish();
rollback;
