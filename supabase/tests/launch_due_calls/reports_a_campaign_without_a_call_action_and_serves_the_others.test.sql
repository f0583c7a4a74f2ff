-- A campaign whose provider_settings name no call action (url, twiml or application_sid) cannot
-- dial: it is reported as malformed, none of its contacts is reserved (so none burns an attempt),
-- and the other campaigns are served.
begin;
\ir ../_helpers.psql
select plan(5);

select tests.create_campaign(name => 'no action', provider_settings => '{}'::jsonb) as bare \gset
select tests.create_campaign(name => 'two actions',
  provider_settings => '{"twiml": "<Response/>", "url": "https://example.com/voice"}'::jsonb) as double \gset
select tests.create_campaign(name => 'fine') as fine \gset
select tests.add_contacts(:bare, 2);
select tests.add_contacts(:double, 2);
select tests.add_contacts(:fine, 2);

create temp table launched as select * from launch_due_calls(tests.wednesday_noon());

select is((select note from launched where campaign_id = :bare),
          'malformed campaign: provider_settings needs exactly one of url, twiml, application_sid',
          'a campaign without a call action is reported');
select is((select note from launched where campaign_id = :double),
          'malformed campaign: provider_settings needs exactly one of url, twiml, application_sid',
          'a campaign with two call actions is reported');
select is((select count(*)::integer from calls where campaign_id in (:bare, :double)), 0,
          'no call is reserved for them');
select is((select reserved from launched where campaign_id = :fine), 2, 'the other campaign is served');

select tests.create_campaign(name => 'no caller id', caller_id => null) as anonymous \gset
select tests.add_contacts(:anonymous, 1);
select set_eq(
  $$select l.campaign_id, l.note from launch_due_calls(tests.wednesday_noon()) l where l.note like 'malformed%'$$,
  $$select c.id, 'malformed campaign: ' || public._campaign_problem(c.caller_id, c.provider_settings)
      from campaigns c where public._campaign_problem(c.caller_id, c.provider_settings) is not null$$,
  'launch_due_calls() (which writes the check out) reports exactly what _campaign_problem() says'
);

select * from finish();
rollback;
