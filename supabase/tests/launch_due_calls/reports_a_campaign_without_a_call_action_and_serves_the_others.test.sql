-- A campaign whose provider_settings name no call action (url, twiml or application_sid) cannot
-- dial: it is reported as malformed, none of its contacts is reserved (so none burns an attempt),
-- and the other campaigns are served.
begin;
\ir ../_helpers.psql
select plan(6);

select tests.create_campaign(name => 'no action', provider_settings => '{}'::jsonb) as bare \gset
select tests.create_campaign(name => 'two actions',
  provider_settings => '{"twiml": "<Response/>", "url": "https://example.com/voice"}'::jsonb) as double \gset
select tests.create_campaign(name => 'fine') as fine \gset
select tests.add_contacts(:bare, 2);
select tests.add_contacts(:double, 2);
select tests.add_contacts(:fine, 2);

create temp table launched as select * from launch_due_calls(tests.wednesday_noon());

select results_eq(
  format('select outcome, problem from launched where campaign_id = %s', :bare),
  $$values ('set_up_problem'::launch_outcome, 'provider_settings needs exactly one of url, twiml, application_sid')$$,
  'a campaign without a call action is reported');
select results_eq(
  format('select outcome, problem from launched where campaign_id = %s', :double),
  $$values ('set_up_problem'::launch_outcome, 'provider_settings needs exactly one of url, twiml, application_sid')$$,
  'a campaign with two call actions is reported');
select is((select count(*)::integer from calls where campaign_id in (:bare, :double)), 0,
          'no call is reserved for them');
select is((select reserved from launched where campaign_id = :fine), 2, 'the other campaign is served');

select tests.create_campaign(name => 'no caller id', caller_id => null) as anonymous \gset
select tests.add_contacts(:anonymous, 1);
select results_eq(
  $$select l.outcome, l.problem from launch_due_calls(tests.wednesday_noon()) l where l.campaign_id = $$ || :anonymous,
  $$values ('set_up_problem'::launch_outcome, 'caller_id is not set')$$,
  'a campaign without a caller id is reported with its own problem'
);
select is((select set_up_problem from campaigns where id = :fine), null, 'a campaign that can dial has no set-up problem');

select * from finish();
rollback;
