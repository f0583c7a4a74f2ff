-- Callbacks are retried and reordered by the network. A duplicate or a status older than what we
-- know is ignored: a call never moves backwards, and a finished call stays finished.
begin;
\ir ../_helpers.psql
select plan(8);

select tests.create_campaign(cap => 5) as campaign_id \gset
select count(*) from tests.add_contacts(:campaign_id, 3);
select tests.dial(min(id), tests.wednesday_noon()) from contacts;
select array_agg(id order by id) as calls from calls \gset
select (:'calls'::bigint[])[1] as first_call, (:'calls'::bigint[])[2] as second_call, (:'calls'::bigint[])[3] as third_call \gset

select is(apply_call_status(:first_call, 'twilio', 'CA-1', 'ringing', p_now => tests.wednesday_noon() + interval '1 second'),
          'applied', 'the first ringing is applied');
select is(apply_call_status(:first_call, 'twilio', 'CA-1', 'ringing', p_now => tests.wednesday_noon() + interval '2 seconds'),
          'ignored', 'the same ringing delivered again is ignored');
select is((select ringing_at from calls where id = :first_call), tests.wednesday_noon() + interval '1 second',
          'and does not move ringing_at');

select apply_call_status(:second_call, 'twilio', 'CA-2', 'completed', 42, p_now => tests.wednesday_noon() + interval '50 seconds');
select is(apply_call_status(:second_call, 'twilio', 'CA-2', 'ringing', p_now => tests.wednesday_noon() + interval '51 seconds'),
          'ignored', 'ringing arriving after completed is ignored');
select results_eq(
  format('select status, ended_at, ringing_at from calls where id = %s', :second_call),
  $$values ('completed'::call_status, tests.wednesday_noon() + interval '50 seconds', null::timestamptz)$$,
  'the call stays completed, untouched by the late ringing'
);
select is(apply_call_status(:second_call, 'twilio', 'CA-2', 'failed', p_now => tests.wednesday_noon() + interval '52 seconds'),
          'ignored', 'a second final status is ignored: the first one counts');

select apply_call_status(:third_call, 'twilio', 'CA-3', 'in_progress', p_now => tests.wednesday_noon() + interval '5 seconds');
select is(apply_call_status(:third_call, 'twilio', 'CA-3', 'ringing', p_now => tests.wednesday_noon() + interval '6 seconds'),
          'ignored', 'ringing arriving after in_progress is ignored');
select is((select status from calls where id = :third_call), 'in_progress'::call_status, 'the call stays in_progress');

select * from finish();
rollback;
