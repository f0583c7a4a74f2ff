-- The state rules ship enabled; an operator turns off what does not apply, with a reason, through
-- admin_set_calling_hours_rule_enabled() (one rule, or every rule of a state), and every change to
-- a rule, by that function or by hand, is recorded in operator_audit_log.
-- The clock: tests.wednesday_noon() is Wednesday 2 December 2026, 12:00 UTC.
begin;
\ir ../_helpers.psql
select plan(10);

select admin_set_calling_hours_rule_enabled(null, 'FL', false, 'our Florida calls are exempt (verified with counsel)',
                                            'cli:tester', null, tests.wednesday_noon(), 'admin') as result \gset
select is((:'result'::jsonb ->> 'rules')::integer, (select count(*)::integer from us_area_code_states where state = 'FL'),
          'every Florida rule matched');
select is(jsonb_array_length(:'result'::jsonb -> 'changed'), (select count(*)::integer from us_area_code_states where state = 'FL'),
          'and each changed');
select is((select count(*)::integer from calling_hours_rules where state = 'FL' and enabled), 0, 'Florida is off');
select results_eq(
  $$select actor, actor_role, action, at, after ->> 'reason', (before ->> 'enabled')::boolean, (after ->> 'enabled')::boolean
      from operator_audit_log where subject = (select 'calling_hours_rule ' || id from calling_hours_rules where prefix = '+1305')$$,
  $$values ('cli:tester', 'admin', 'calling_hours_rule.disable', tests.wednesday_noon(),
            'our Florida calls are exempt (verified with counsel)', true, false)$$,
  'the change is audited: who, when, why, before and after'
);
select is((select count(*)::integer from operator_audit_log where action = 'calling_hours_rule.disable'),
          (select count(*)::integer from us_area_code_states where state = 'FL'), 'one audit row per rule');
select is(calling_hours_allow(tests.wednesday_noon() + interval '13 hours 30 minutes', 'America/New_York', '+13055550100', 'telemarketing'),
          true, 'a Florida number at 20:30 local: the federal hours alone now');

-- Again: nothing changes, nothing more is recorded.
select is(admin_set_calling_hours_rule_enabled(null, 'FL', false, 'again', 'cli:tester', null, tests.wednesday_noon()) -> 'changed',
          '[]'::jsonb, 'disabling a disabled rule changes nothing');

-- One rule back on, by id.
select is(admin_set_calling_hours_rule_enabled((select id from calling_hours_rules where prefix = '+1305'), null, true,
                                               'Miami calls are in scope after all', 'cli:tester', null, tests.wednesday_noon())
            -> 'changed',
          (select to_jsonb(array[id]) from calling_hours_rules where prefix = '+1305'), 'one rule enabled by id');

-- By hand (SQL, Studio): audited too, as the database role.
update calling_hours_rules set end_time = '19:00' where prefix = '+1410';
select results_eq(
  $$select actor, action, after ->> 'end_time' from operator_audit_log
     where subject = (select 'calling_hours_rule ' || id from calling_hours_rules where prefix = '+1410')$$,
  $$values ('sql:' || (session_user::text collate "default"), 'calling_hours_rule.update', '19:00:00')$$,
  'an edit by hand is audited with the database role as actor'
);

select throws_ok($$select admin_set_calling_hours_rule_enabled(null, 'OK', false, ' ', 'cli:tester')$$, '22023',
                 'a reason is required', 'a reason is required');

select * from finish();
rollback;
