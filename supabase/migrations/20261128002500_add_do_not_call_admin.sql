-- The do-not-call list as data operators manage (scheduler-admin /do-not-call, npm run campaign --
-- dnc, the dashboard's "Do-not-call list" panel) and the opt-out a called person gives during the
-- call (call-status POST /opt-out, through the call's own signed URL). Every change is one statement
-- (one transaction through the pooler) together with its rows in operator_audit_log, one row per
-- number: who (actor), what (do_not_call.add, do_not_call.remove, do_not_call.import,
-- do_not_call.opt_out), on what (subject 'do_not_call <phone>'), why (the reason, in after or, for
-- a removal, after.reason) and when. An opt-out is recorded with its call id (actor 'call <id>').
--
-- Adding a number: the statement trigger do_not_call_numbers_mark_contacts marks its pending
-- contacts do_not_call at once; reservation and the dial-time claim skip it from the commit on.
-- Removing a number: there is no delete trigger, on purpose. Contacts already marked do_not_call
-- stay so (nothing is dialled again behind the operator's back); contacts added or imported later
-- are dialled as usual. admin_remove_do_not_call() answers how many contacts stay marked.
-- Like every function in public these run with the caller's rights (no SECURITY DEFINER): only the
-- Edge Functions' service connection (service_role) may execute them.

-- _do_not_call_json(): a list row as the API and the audit trail show it.
create function public._do_not_call_json(p_row public.do_not_call_numbers)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case when p_row.phone is null then null else jsonb_build_object(
    'phone', p_row.phone, 'reason', p_row.reason, 'added_at', p_row.added_at, 'added_by', p_row.added_by) end
$$;

comment on function public._do_not_call_json(public.do_not_call_numbers) is
  'A do_not_call_numbers row as JSON {phone, reason, added_at, added_by} (null for a null row).';

-- _check_do_not_call_reason(): a reason is required, 1 to 500 characters once trimmed.
create function public._check_do_not_call_reason(p_reason text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_reason is null or length(btrim(p_reason)) = 0 then
    raise exception 'a reason is required' using errcode = 'invalid_parameter_value';
  end if;
  if length(btrim(p_reason)) > 500 then
    raise exception 'the reason is longer than 500 characters' using errcode = 'invalid_parameter_value';
  end if;
  return btrim(p_reason);
end;
$$;

comment on function public._check_do_not_call_reason(text) is
  'The reason trimmed; SQLSTATE 22023 when it is missing, blank or longer than 500 characters.';

-- admin_add_do_not_call(): puts p_phone on the list with p_reason, audited as do_not_call.add.
-- Already listed: nothing changes, nothing is recorded, {added: false, row: the existing row}.
create function public.admin_add_do_not_call(
  p_phone text,
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
  v_row public.do_not_call_numbers;
  v_marked integer;
begin
  insert into public.do_not_call_numbers (phone, reason, added_at, added_by)
  values (p_phone, v_reason, p_now, p_actor)
  on conflict (phone) do nothing
  returning * into v_row;
  if v_row.phone is null then
    select * into v_row from public.do_not_call_numbers d where d.phone = p_phone;
    return jsonb_build_object('added', false, 'row', public._do_not_call_json(v_row));
  end if;
  -- The list's statement trigger has just marked the pending contacts.
  select count(*)::integer into v_marked from public.contacts ct where ct.phone = p_phone and ct.status = 'do_not_call';
  perform public.record_operator_action(p_actor, p_actor_token_id, 'do_not_call.add', 'do_not_call ' || p_phone,
                                        null, public._do_not_call_json(v_row), p_now, p_actor_role);
  return jsonb_build_object('added', true, 'row', public._do_not_call_json(v_row), 'contacts_marked', v_marked);
end;
$$;

comment on function public.admin_add_do_not_call(text, text, text, bigint, timestamptz, text) is
  'Puts p_phone (E.164: the CHECK constraint do_not_call_numbers_phone_is_e164 refuses anything else, 23514) on the do-not-call list with p_reason (required, 22023) and records do_not_call.add in operator_audit_log. Returns {added: true, row, contacts_marked (the contacts with that number now do_not_call, in any campaign)}, or {added: false, row} (nothing recorded) when it was already listed.';

-- admin_remove_do_not_call(): takes p_phone off the list, p_reason required, audited as
-- do_not_call.remove with the row before. Contacts marked do_not_call stay so (see the top).
create function public.admin_remove_do_not_call(
  p_phone text,
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
  v_row public.do_not_call_numbers;
  v_still integer;
  v_result jsonb;
begin
  delete from public.do_not_call_numbers d where d.phone = p_phone returning * into v_row;
  if v_row.phone is null then
    return null;
  end if;
  select count(*)::integer into v_still from public.contacts ct where ct.phone = p_phone and ct.status = 'do_not_call';
  v_result := jsonb_build_object('removed', public._do_not_call_json(v_row), 'reason', v_reason,
                                 'contacts_still_do_not_call', v_still);
  perform public.record_operator_action(p_actor, p_actor_token_id, 'do_not_call.remove', 'do_not_call ' || p_phone,
                                        public._do_not_call_json(v_row),
                                        jsonb_build_object('reason', v_reason, 'contacts_still_do_not_call', v_still),
                                        p_now, p_actor_role);
  return v_result;
end;
$$;

comment on function public.admin_remove_do_not_call(text, text, text, bigint, timestamptz, text) is
  'Takes p_phone off the do-not-call list (p_reason required, 22023) and records do_not_call.remove (the row before, the reason) in operator_audit_log. Contacts already marked do_not_call stay so (no delete trigger). Returns {removed: row, reason, contacts_still_do_not_call}, or null (nothing recorded) when it was not listed.';

-- admin_import_do_not_call(): a batch of CSV rows [{line, phone, reason}] (already checked E.164 by
-- the function), each new number added and audited as do_not_call.import; each line comes back with
-- its outcome: added, already_listed (on the list before, or an earlier line of the batch has it).
create function public.admin_import_do_not_call(
  p_rows jsonb,
  p_actor text,
  p_actor_token_id bigint default null,
  p_now timestamptz default now(),
  p_actor_role text default null
)
returns table (line integer, phone text, outcome text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if jsonb_typeof(p_rows) is distinct from 'array' then
    raise exception 'p_rows must be a JSON array' using errcode = 'invalid_parameter_value';
  end if;
  return query
  with input as (
    select r.line, r.phone, nullif(left(btrim(coalesce(r.reason, '')), 500), '') as reason,
           row_number() over (partition by r.phone order by r.line) as nth
      from jsonb_to_recordset(p_rows) as r (line integer, phone text, reason text)
  ),
  inserted as (
    insert into public.do_not_call_numbers (phone, reason, added_at, added_by)
    select i.phone, coalesce(i.reason, 'imported'), p_now, p_actor
      from input i
     where i.nth = 1
     order by i.line
    on conflict (phone) do nothing
    returning *
  ),
  -- (a data-modifying CTE runs whether or not it is read)
  audited as (
    insert into public.operator_audit_log (at, actor, actor_token_id, actor_role, action, subject, before, after)
    select p_now, p_actor, p_actor_token_id, p_actor_role, 'do_not_call.import', 'do_not_call ' || n.phone, null,
           public._do_not_call_json(n) || jsonb_build_object('line', i.line)
      from inserted n
      join input i on i.phone = n.phone and i.nth = 1
    returning 1
  )
  select i.line, i.phone,
         case when i.nth = 1 and exists (select 1 from inserted n where n.phone = i.phone) then 'added'
              else 'already_listed' end
    from input i
   order by i.line;
end;
$$;

comment on function public.admin_import_do_not_call(jsonb, text, bigint, timestamptz, text) is
  'Adds a batch of numbers to the do-not-call list: p_rows is a JSON array of {line, phone (E.164), reason (blank: ''imported'')}. Each number added is recorded as do_not_call.import (with its line) in operator_audit_log. Returns each line with its outcome: added, or already_listed (before, or by an earlier line of the batch).';

-- opt_out_during_call(): the called person of call p_call_id asked not to be called again. Their
-- number is read from the call row (never from the request), listed with the reason 'opted out
-- during call <id>' and recorded as do_not_call.opt_out by actor 'call <id>'. Idempotent: already
-- listed, nothing changes and nothing is recorded.
create function public.opt_out_during_call(p_call_id bigint, p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_phone text;
  v_campaign bigint;
  v_row public.do_not_call_numbers;
begin
  select cl.to_phone, cl.campaign_id into v_phone, v_campaign from public.calls cl where cl.id = p_call_id;
  if not found then
    return jsonb_build_object('result', 'no_such_call', 'call_id', p_call_id);
  end if;
  insert into public.do_not_call_numbers (phone, reason, added_at, added_by)
  values (v_phone, 'opted out during call ' || p_call_id, p_now, 'call ' || p_call_id)
  on conflict (phone) do nothing
  returning * into v_row;
  if v_row.phone is null then
    return jsonb_build_object('result', 'already_listed', 'call_id', p_call_id);
  end if;
  perform public.record_operator_action('call ' || p_call_id, null, 'do_not_call.opt_out', 'do_not_call ' || v_phone,
                                        null,
                                        public._do_not_call_json(v_row)
                                          || jsonb_build_object('call_id', p_call_id, 'campaign_id', v_campaign),
                                        p_now);
  return jsonb_build_object('result', 'added', 'call_id', p_call_id);
end;
$$;

comment on function public.opt_out_during_call(bigint, timestamptz) is
  'The called person of call p_call_id opted out: the call''s own number (calls.to_phone) goes on the do-not-call list with reason ''opted out during call <id>'', recorded as do_not_call.opt_out (actor ''call <id>'', with the call and campaign ids) in operator_audit_log. Returns {result: added | already_listed | no_such_call, call_id}; nothing is written unless added.';

revoke all on function public._do_not_call_json(public.do_not_call_numbers) from public, anon, authenticated;
revoke all on function public._check_do_not_call_reason(text) from public, anon, authenticated;
revoke all on function public.admin_add_do_not_call(text, text, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_remove_do_not_call(text, text, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.admin_import_do_not_call(jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
revoke all on function public.opt_out_during_call(bigint, timestamptz) from public, anon, authenticated;
grant execute on function public._do_not_call_json(public.do_not_call_numbers) to service_role;
grant execute on function public._check_do_not_call_reason(text) to service_role;
grant execute on function public.admin_add_do_not_call(text, text, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_remove_do_not_call(text, text, text, bigint, timestamptz, text) to service_role;
grant execute on function public.admin_import_do_not_call(jsonb, text, bigint, timestamptz, text) to service_role;
grant execute on function public.opt_out_during_call(bigint, timestamptz) to service_role;
