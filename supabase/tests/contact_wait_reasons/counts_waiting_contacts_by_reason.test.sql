-- Why not now: contact_wait_reasons counts, per open campaign, the contacts not being called by
-- the first reason that holds at now(). The view runs on the wall clock, so every window and rule
-- here is set relative to now(), and the federal rule is turned off.
begin;
\ir ../_helpers.psql
select plan(9);

update calling_hours_rules set enabled = false;
insert into calling_hours_rules (prefix, start_time, end_time, holidays, note)
values ('+1777', '00:00', '24:00', array[(now() at time zone 'UTC')::date], 'test: today is a holiday for +1777');

-- Open windows: from an hour ago to an hour ahead (UTC), every day; closed: one to two hours ahead.
create temp table w on commit drop as
  select (now() at time zone 'UTC')::time - interval '1 hour' as open_start,
         (now() at time zone 'UTC')::time + interval '1 hour' as open_end,
         (now() at time zone 'UTC')::time + interval '2 hours' as closed_end;
create function pg_temp.open_campaign(p_name text) returns bigint language sql as $$
  select tests.create_campaign(name => p_name, window_start => w.open_start, window_end => w.open_end,
                               window_days => '{1,2,3,4,5,6,7}')
    from w
$$;
create function pg_temp.contact(p_campaign bigint, p_phone text, p_next timestamptz default now() - interval '1 minute')
returns bigint language sql as $$ select tests.add_contact(p_campaign, p_phone, next_attempt_at => p_next) $$;

-- Numbers busy elsewhere: +15550000013 has a call in flight in campaign 'elsewhere', +15550000014
-- had one today (and max_calls_per_number_per_day is 1).
select pg_temp.open_campaign('elsewhere') as elsewhere_id \gset
select pg_temp.contact(:elsewhere_id, '+15550000013'), pg_temp.contact(:elsewhere_id, '+15550000014');
select tests.launch(now()) as launched \gset
update calls set status = 'completed', dialed_at = now(), ended_at = now() where to_phone = '+15550000014';
update scheduler_settings set max_calls_per_number_per_day = 1;

select pg_temp.open_campaign('paused') as paused_id \gset
update campaigns set status = 'PAUSED', paused_reason = 'the provider refused the caller id' where id = :paused_id;
select pg_temp.contact(:paused_id, '+15550000001'), pg_temp.contact(:paused_id, '+15550000002');

select pg_temp.open_campaign('later') as later_id \gset
update campaigns set starts_at = now() + interval '1 day' where id = :later_id;
select pg_temp.contact(:later_id, '+15550000003');

select pg_temp.open_campaign('over') as over_id \gset
update campaigns set ends_at = now() - interval '1 hour' where id = :over_id;
select pg_temp.contact(:over_id, '+15550000004');

select pg_temp.open_campaign('no caller id') as bare_id \gset
update campaigns set caller_id = null where id = :bare_id;
select pg_temp.contact(:bare_id, '+15550000005');

select tests.create_campaign(name => 'closed', window_start => w.closed_start, window_end => w.closed_end,
                             window_days => '{1,2,3,4,5,6,7}') as closed_id
  from (select open_end as closed_start, closed_end from w) w \gset
select pg_temp.contact(:closed_id, '+15550000006');

select pg_temp.open_campaign('mixed') as mixed_id \gset
select pg_temp.contact(:mixed_id, '+15550000013'), pg_temp.contact(:mixed_id, '+15550000014');
select pg_temp.contact(:mixed_id, '+15550000007');
insert into do_not_call_numbers (phone) values ('+15550000007');
select pg_temp.contact(:mixed_id, '+15550000008') as used_id \gset
update contacts set status = 'exhausted', attempts = 3 where id = :used_id;
select pg_temp.contact(:mixed_id, '+15550000009', now() + interval '1 hour');
select pg_temp.contact(:mixed_id, '+17775550100');
select pg_temp.contact(:mixed_id, '+15550000010');
select pg_temp.contact(:mixed_id, '+15550000011');

select pg_temp.open_campaign('finished') as finished_id \gset
select pg_temp.contact(:finished_id, '+15550000012');
update campaigns set status = 'COMPLETED' where id = :finished_id;

select results_eq(
  $$select campaign_name, reason, detail, contacts::integer from contact_wait_reasons
     where campaign_name not in ('mixed', 'elsewhere') order by campaign_id$$,
  $$values ('paused', 'campaign paused', 'the provider refused the caller id', 2),
           ('later', 'campaign not started', null, 1),
           ('over', 'campaign ended', null, 1),
           ('no caller id', 'campaign set-up problem', 'caller_id is not set', 1),
           ('closed', 'window closed', null, 1)$$,
  'campaign-level reasons, with the paused reason and the set-up problem as detail'
);
select results_eq(
  $$select reason, contacts::integer from contact_wait_reasons where campaign_name = 'mixed' order by reason$$,
  $$values ('attempts used', 1), ('do-not-call', 1), ('due', 2), ('frequency cap', 1), ('number in a call', 1),
           ('quiet hours', 1), ('retry later', 1)$$,
  'contact-level reasons: do-not-call, attempts used, retry later, quiet hours (a rule), number in a call, frequency cap, due'
);
select is(:launched, 2, 'the elsewhere campaign reserved its two calls');
select results_eq(
  $$select campaign_name, reason, opens_at from contact_wait_reasons
     where reason in ('window closed', 'campaign not started', 'retry later') order by campaign_id$$,
  $$values ('later', 'campaign not started', now() + interval '1 day'),
           ('closed', 'window closed', now() + interval '1 hour'),
           ('mixed', 'retry later', now() + interval '1 hour')$$,
  'until when: the window''s next opening, the campaign''s start, the earliest retry'
);
select is((select opens_at from contact_wait_reasons where reason = 'quiet hours'),
          (select next_calling_time(now(), c.time_zone, c.window_start, c.window_end, c.window_days, '+17775550100')
             from campaigns c where c.id = :mixed_id),
          'quiet hours: until the rule (the holiday over) and the window allow the number');
select ok((select opens_at > now() from contact_wait_reasons where reason = 'quiet hours'), '... which is later than now');
select is((select array_agg(distinct time_zone) from contact_wait_reasons), (select array_agg(distinct time_zone) from campaigns),
          'each row names its campaign''s zone');
select is((select count(*)::integer from contact_wait_reasons where campaign_name = 'finished'), 0,
          'a completed campaign is not listed');
select ok((select v.security_invoker from (select 'security_invoker=true' = any (c.reloptions) as security_invoker
                                            from pg_class c where c.oid = 'public.contact_wait_reasons'::regclass) v),
          'the view runs with the caller''s rights (security_invoker)');

select * from finish();
rollback;
