-- A callback is applied only for the call's own account: the account it comes from (the AccountSid
-- its signature was verified for; null: the main account) must be the account_sid of the call's
-- campaign's provider account (null: the main account). Account A's callback for account B's call
-- (by our call id or by the provider's call id) is 'wrong_account' and changes nothing; B's own
-- callback still applies afterwards; the main account's callbacks cannot move a subaccount's call,
-- nor a subaccount's the main account's. The dispatcher's own record of a final answer still ends a
-- subaccount's call.
begin;
\ir ../_helpers.psql
select plan(11);

insert into provider_accounts (id, account_sid) values
  ('sub-a', 'AC' || repeat('a', 32)),
  ('sub-b', 'AC' || repeat('b', 32));

select tests.create_campaign() as b_campaign \gset
update campaigns set provider_account = 'sub-b' where id = :b_campaign;
select tests.add_contacts(:b_campaign, 1) as b_contact \gset
select tests.dial(:b_contact, tests.wednesday_noon()) as b_call \gset
select record_dispatch_result(:b_call, 'accepted', 'CA-b', p_now => tests.wednesday_noon());

select tests.create_campaign() as main_campaign \gset
select tests.add_contacts(:main_campaign, 1) as main_contact \gset
select tests.dial(:main_contact, tests.wednesday_noon()) as main_call \gset
select record_dispatch_result(:main_call, 'accepted', 'CA-main', p_now => tests.wednesday_noon());

create temp table before_b as select * from calls where id = :b_call;
create temp table before_contact as select * from contacts where id = :b_contact;

select is(apply_call_status(:b_call, 'twilio', 'CA-b', 'completed', 30, p_now => tests.wednesday_noon() + interval '1 minute',
                            p_account_sid => 'AC' || repeat('a', 32)),
          'wrong_account', 'account A''s callback for account B''s call (by our id): wrong_account');
select is(apply_call_status(null, 'twilio', 'CA-b', 'completed', 30, p_now => tests.wednesday_noon() + interval '1 minute',
                            p_account_sid => 'AC' || repeat('a', 32)),
          'wrong_account', '... and by the provider''s call id alone');
select is(apply_call_status(:b_call, 'twilio', 'CA-b', 'completed', 30, p_now => tests.wednesday_noon() + interval '1 minute'),
          'wrong_account', 'the main account''s callback for a subaccount''s call: wrong_account');
select is(apply_call_status(:b_call, 'twilio', null, 'ringing', p_now => tests.wednesday_noon() + interval '1 minute',
                            p_account_sid => 'AC' || repeat('a', 32)),
          'wrong_account', 'without a provider call id too');
select is(apply_call_status(:main_call, 'twilio', 'CA-main', 'completed', 30, p_now => tests.wednesday_noon() + interval '1 minute',
                            p_account_sid => 'AC' || repeat('b', 32)),
          'wrong_account', 'a subaccount''s callback for a main-account call: wrong_account');

select results_eq(
  format('select to_jsonb(c) from calls c where id = %s', :b_call),
  'select to_jsonb(c) from before_b c',
  'the refused callbacks changed nothing on the call'
);
select results_eq(
  format('select to_jsonb(c) from contacts c where id = %s', :b_contact),
  'select to_jsonb(c) from before_contact c',
  '... nor on its contact'
);

select is(apply_call_status(:b_call, 'twilio', 'CA-b', 'completed', 30, p_now => tests.wednesday_noon() + interval '2 minutes',
                            p_account_sid => 'AC' || repeat('b', 32)),
          'applied', 'account B''s own callback still applies afterwards');
select is((select status from calls where id = :b_call), 'completed'::call_status, 'and completes the call');
select is(apply_call_status(:main_call, 'twilio', 'CA-main', 'completed', 30, p_now => tests.wednesday_noon() + interval '2 minutes'),
          'applied', 'the main account''s own callback (p_account_sid null) applies');

-- The provider's own answer to our create-call request (record_dispatch_result, already final) is
-- applied as the call's own account, subaccount or not.
select tests.add_contacts(:b_campaign, 1) as b_contact2 \gset
select tests.dial(:b_contact2, tests.wednesday_noon()) as b_call2 \gset
select record_dispatch_result(:b_call2, 'accepted', 'CA-b2', 'completed', p_now => tests.wednesday_noon());
select is((select status from calls where id = :b_call2), 'completed'::call_status,
          'a subaccount call the provider answered as already completed ends completed');

select * from finish();
rollback;
