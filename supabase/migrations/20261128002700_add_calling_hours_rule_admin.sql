-- The calling-hours rules (calling_hours_rules) ship enabled, the state rules among them; an
-- operator turns off what does not apply to the business (the campaign's purpose is not covered,
-- the business is exempt...), with a reason: admin_set_calling_hours_rule_enabled() (scheduler-admin
-- PATCH /calling-hours-rules), one rule or every rule of a state. Every change to a rule, made by
-- that function or by hand (SQL, Supabase Studio), is recorded in operator_audit_log by the row
-- trigger calling_hours_rules_audit: calling_hours_rule.enable / .disable (only enabled changed),
-- .update, .create, .delete, subject 'calling_hours_rule <id>', the row before and after (after.reason:
-- the operator's reason). The function tells the trigger who and why through transaction-local
-- settings (scheduler.audit_*); a change by hand is recorded as actor 'sql:<role>', without reason.

-- _calling_hours_rule_json(): a rule as the audit trail and the API show it.
create function public._calling_hours_rule_json(p_row public.calling_hours_rules)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case when p_row.id is null then null else jsonb_build_object(
    'id', p_row.id, 'prefix', p_row.prefix, 'state', p_row.state, 'start_time', p_row.start_time,
    'end_time', p_row.end_time, 'days', p_row.days, 'holidays', p_row.holidays, 'enabled', p_row.enabled,
    'purposes', p_row.purposes, 'max_calls_per_24h', p_row.max_calls_per_24h, 'citation', p_row.citation,
    'effective_date', p_row.effective_date, 'note', p_row.note) end
$$;

comment on function public._calling_hours_rule_json(public.calling_hours_rules) is
  'A calling_hours_rules row as JSON (null for a null row).';

-- The audit trigger: one operator_audit_log row per rule inserted, changed or deleted.
create function public._audit_calling_hours_rule()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_actor text := nullif(pg_catalog.current_setting('scheduler.audit_actor', true), '');
  v_token text := nullif(pg_catalog.current_setting('scheduler.audit_actor_token_id', true), '');
  v_role text := nullif(pg_catalog.current_setting('scheduler.audit_actor_role', true), '');
  v_reason text := nullif(pg_catalog.current_setting('scheduler.audit_reason', true), '');
  v_at text := nullif(pg_catalog.current_setting('scheduler.audit_at', true), '');
  v_before jsonb;
  v_after jsonb;
  v_action text;
begin
  if tg_op = 'UPDATE' then
    if new is not distinct from old then
      return null;
    end if;
    v_before := public._calling_hours_rule_json(old);
    v_after := public._calling_hours_rule_json(new);
    v_action := case
                  when (v_before - 'enabled') = (v_after - 'enabled') and new.enabled
                    then 'calling_hours_rule.enable'
                  when (v_before - 'enabled') = (v_after - 'enabled') then 'calling_hours_rule.disable'
                  else 'calling_hours_rule.update'
                end;
  elsif tg_op = 'INSERT' then
    v_after := public._calling_hours_rule_json(new);
    v_action := 'calling_hours_rule.create';
  else
    v_before := public._calling_hours_rule_json(old);
    v_action := 'calling_hours_rule.delete';
  end if;
  if v_reason is not null then
    v_after := coalesce(v_after, '{}'::jsonb) || jsonb_build_object('reason', v_reason);
  end if;
  perform public.record_operator_action(
    coalesce(v_actor, 'sql:' || session_user), v_token::bigint, v_action,
    'calling_hours_rule ' || coalesce(new.id, old.id), v_before, v_after,
    coalesce(v_at::timestamptz, pg_catalog.now()), v_role);
  return null;
end;
$$;

comment on function public._audit_calling_hours_rule() is
  'Trigger of calling_hours_rules: records each rule inserted, changed or deleted in operator_audit_log (calling_hours_rule.create / enable / disable / update / delete), the actor and reason from the transaction-local settings scheduler.audit_* (set by admin_set_calling_hours_rule_enabled()), else actor sql:<session user>.';

create trigger calling_hours_rules_audit
  after insert or update or delete on public.calling_hours_rules
  for each row execute function public._audit_calling_hours_rule();

-- admin_set_calling_hours_rule_enabled(): enables or disables rule p_rule_id, or every rule of
-- state p_state (exactly one of them), with p_reason (required), audited by the trigger. Returns
-- {enabled, reason, changed: [rule ids whose enabled changed], rules: how many matched}; rules 0
-- when nothing matched.
create function public.admin_set_calling_hours_rule_enabled(
  p_rule_id bigint,
  p_state text,
  p_enabled boolean,
  p_reason text,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_reason text := public._check_do_not_call_reason(p_reason);
  v_changed bigint[];
  v_matched integer;
begin
  if pg_catalog.num_nonnulls(p_rule_id, p_state) <> 1 then
    raise exception 'give exactly one of a rule id and a state' using errcode = 'invalid_parameter_value';
  end if;
  if p_enabled is null then
    raise exception 'enabled must be true or false' using errcode = 'invalid_parameter_value';
  end if;
  select count(*)::integer into v_matched
    from public.calling_hours_rules r
   where (r.id = p_rule_id or r.state = pg_catalog.upper(p_state));
  perform pg_catalog.set_config('scheduler.audit_actor', p_actor, true),
          pg_catalog.set_config('scheduler.audit_actor_token_id', coalesce(p_actor_token_id::text, ''), true),
          pg_catalog.set_config('scheduler.audit_actor_role', coalesce(p_actor_role, ''), true),
          pg_catalog.set_config('scheduler.audit_reason', v_reason, true),
          pg_catalog.set_config('scheduler.audit_at', p_now::text, true);
  with changed as (
    update public.calling_hours_rules r
       set enabled = p_enabled, updated_at = p_now
     where (r.id = p_rule_id or r.state = pg_catalog.upper(p_state))
       and r.enabled <> p_enabled
    returning r.id
  )
  select coalesce(pg_catalog.array_agg(c.id order by c.id), '{}') into v_changed from changed c;
  perform pg_catalog.set_config('scheduler.audit_actor', '', true),
          pg_catalog.set_config('scheduler.audit_actor_token_id', '', true),
          pg_catalog.set_config('scheduler.audit_actor_role', '', true),
          pg_catalog.set_config('scheduler.audit_reason', '', true),
          pg_catalog.set_config('scheduler.audit_at', '', true);
  return jsonb_build_object('enabled', p_enabled, 'reason', v_reason, 'changed', pg_catalog.to_jsonb(v_changed),
                            'rules', v_matched);
end;
$$;

comment on function public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text) is
  'Enables or disables calling_hours_rules row p_rule_id, or every row of state p_state (exactly one of them, else 22023), with p_reason (required, 22023); each rule whose enabled changes is recorded in operator_audit_log (calling_hours_rule.enable / .disable, after.reason) by the trigger calling_hours_rules_audit. Returns {enabled, reason, changed: ids, rules: how many matched}.';

revoke all on function public._calling_hours_rule_json(public.calling_hours_rules) from public, anon, authenticated;
revoke all on function public._audit_calling_hours_rule() from public, anon, authenticated;
revoke all on function public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public._calling_hours_rule_json(public.calling_hours_rules) to service_role;
grant execute on function public._audit_calling_hours_rule() to service_role;
grant execute on function public.admin_set_calling_hours_rule_enabled(bigint, text, boolean, text, text, bigint, timestamptz, text) to service_role;
