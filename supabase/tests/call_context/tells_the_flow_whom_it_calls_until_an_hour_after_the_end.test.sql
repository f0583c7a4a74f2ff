-- What the call flow may read about its call: the contact (name, number, zones, metadata), the
-- campaign (name, purpose) and the attempt (first or retry, with the attempt before); served while
-- the call is under way and for the grace after it ended, then 'ended'; a TwiML App finds its call
-- by CallSid only in the call's own account.
begin;
\ir ../_helpers.psql
select plan(9);

select tests.create_campaign(name => 'Renewals') as c \gset
update campaigns set purpose = 'informational', max_attempts = 3 where id = :c;
select tests.add_contact(:c, '+13125550142') as contact \gset
update contacts set name = 'Ada', time_zone = 'America/Chicago', metadata = '{"plan": "gold"}' where id = :contact;
select tests.dial(:contact, (tests.wednesday_noon() + interval '6 hours')) as call \gset
update calls set provider_call_id = 'CA0123456789abcdef0123456789abcdef' where id = :call;

select is(call_context(:call, (tests.wednesday_noon() + interval '6 hours')) -> 'contact',
          jsonb_build_object('id', :contact, 'name', 'Ada', 'phone', '+13125550142', 'time_zone', 'America/Chicago',
                             'number_time_zones', to_jsonb(phone_time_zones('+13125550142')),
                             'metadata', '{"plan": "gold"}'::jsonb),
          'the contact: name, number, zones, metadata');
select is(call_context(:call, (tests.wednesday_noon() + interval '6 hours')) -> 'campaign',
          jsonb_build_object('id', :c, 'name', 'Renewals', 'purpose', 'informational'), 'the campaign: name and purpose');
select is((select (r -> 'call' ->> 'attempt', r -> 'call' ->> 'max_attempts', r -> 'call' ->> 'reason', r -> 'call' -> 'previous_attempt')
             from call_context(:call, (tests.wednesday_noon() + interval '6 hours')) r),
          ('1'::text, '3'::text, 'first_attempt'::text, 'null'::jsonb), 'the first attempt, none before it');

-- Dialled at noon in Chicago (the federal rule's hours there); it ends 5 minutes later and the
-- context is served for an hour after that (p_grace), then refused.
update calls set status = 'completed', ended_at = (tests.wednesday_noon() + interval '6 hours') + interval '5 minutes' where id = :call;
select is(call_context(:call, (tests.wednesday_noon() + interval '6 hours') + interval '65 minutes') ->> 'result', 'ok', 'at the end of the grace: served');
select is(call_context(:call, (tests.wednesday_noon() + interval '6 hours') + interval '65 minutes 1 second') ->> 'result', 'ended', 'after it: ended');
select is(call_context(999999999) ->> 'result', 'no_such_call', 'an unknown call');

-- A retry names the attempt before it.
insert into calls (campaign_id, contact_id, attempt, to_phone, status)
values (:c, :contact, 2, '+13125550142', 'queued') returning id as retry \gset
select is((select (r -> 'call' ->> 'reason', r -> 'call' -> 'previous_attempt' ->> 'call_id', r -> 'call' -> 'previous_attempt' ->> 'status')
             from call_context(:retry, (tests.wednesday_noon() + interval '6 hours') + interval '2 hours') r),
          ('retry'::text, :call::text, 'completed'::text), 'a retry, with what became of the attempt before');

-- By CallSid: the main account's call (null); another account's SID finds nothing.
select is(call_id_by_provider_sid('CA0123456789abcdef0123456789abcdef'), :call::bigint, 'found by CallSid in its own account');
select is(call_id_by_provider_sid('CA0123456789abcdef0123456789abcdef', 'AC0123456789abcdef0123456789abcdef'), null::bigint,
          'not for another account');

select * from finish();
rollback;
