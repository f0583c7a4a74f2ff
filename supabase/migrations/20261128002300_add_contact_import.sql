-- Contacts imported from CSV (scheduler-admin POST /campaigns/<id>/contacts, npm run campaign --
-- import): the function parses and normalises the file (E.164 with libphonenumber-js) and sends the
-- good rows here in batches, each batch its own statement (one transaction through the pooler).
-- Each row comes back with its outcome: imported, duplicate (its number is already a contact of the
-- campaign, or an earlier row of the batch has it), bad_time_zone (not an IANA zone: not
-- inserted, the rest of the batch is) or bad_consent (consent evidence the contacts table refuses:
-- a method without a time or the other way round, an unknown method, a source over 1000
-- characters, an expiry not after the consent; not inserted either). The function reads the
-- consent columns, checks them, and says which rows fail; CHECK constraints stay the last word.

create function public.import_contacts(p_campaign_id bigint, p_rows jsonb, p_now timestamptz default now())
returns table (line integer, outcome text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_status public.campaign_status;
begin
  select c.status into v_status from public.campaigns c where c.id = p_campaign_id for key share;
  if not found then
    raise exception 'no campaign with id %', p_campaign_id using errcode = 'no_data_found';
  end if;
  if v_status in ('CANCELLED', 'COMPLETED') then
    raise exception 'campaign % is %: contacts cannot be added', p_campaign_id, lower(v_status::text)
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  if jsonb_typeof(p_rows) is distinct from 'array' then
    raise exception 'p_rows must be a JSON array' using errcode = 'invalid_parameter_value';
  end if;
  return query
  with input as (
    select r.line, r.phone, r.name, r.time_zone, coalesce(r.metadata, '{}'::jsonb) as metadata,
           r.consent_at, r.consent_method, r.consent_source, r.consent_expires_at,
           (r.time_zone is null or public.is_valid_time_zone(r.time_zone)) as zone_ok,
           -- The contacts table's consent constraints, row by row (a refusal would fail the batch).
           coalesce((r.consent_at is null) = (r.consent_method is null)
                    and (r.consent_method is null
                         or r.consent_method in ('web_form', 'verbal', 'written', 'sms', 'email', 'other'))
                    and (r.consent_source is null
                         or (r.consent_at is not null and length(btrim(r.consent_source)) between 1 and 1000))
                    and (r.consent_expires_at is null
                         or (r.consent_at is not null and r.consent_expires_at > r.consent_at)), false) as consent_ok,
           row_number() over (partition by r.phone order by r.line) as nth
      from jsonb_to_recordset(p_rows)
             as r (line integer, phone text, name text, time_zone text, metadata jsonb, consent_at timestamptz,
                   consent_method text, consent_source text, consent_expires_at timestamptz)
  ),
  inserted as (
    insert into public.contacts (campaign_id, phone, name, time_zone, metadata, consent_at, consent_method,
                                 consent_source, consent_expires_at, next_attempt_at, created_at, updated_at)
    select p_campaign_id, i.phone, i.name, i.time_zone, i.metadata, i.consent_at, i.consent_method,
           i.consent_source, i.consent_expires_at, p_now, p_now, p_now
      from input i
     where i.zone_ok and i.consent_ok and i.nth = 1
     order by i.line
    on conflict (campaign_id, phone) do nothing
    returning phone
  )
  select i.line,
         case when not i.zone_ok then 'bad_time_zone'
              when not i.consent_ok then 'bad_consent'
              when i.nth = 1 and exists (select 1 from inserted n where n.phone = i.phone) then 'imported'
              else 'duplicate' end
    from input i
   order by i.line;
end;
$$;

comment on function public.import_contacts(bigint, jsonb, timestamptz) is
  'Adds a batch of contacts to campaign p_campaign_id: p_rows is a JSON array of {line, phone (E.164), name, time_zone, metadata, consent_at, consent_method, consent_source, consent_expires_at} (the consent ones optional). Returns each line with its outcome: imported, duplicate (already a contact of the campaign, or an earlier line of the batch), bad_time_zone, bad_consent (consent evidence the contacts table refuses; neither inserted). Refuses a cancelled or completed campaign (SQLSTATE 55000) and a missing one (P0002).';

revoke all on function public.import_contacts(bigint, jsonb, timestamptz) from public, anon, authenticated;
grant execute on function public.import_contacts(bigint, jsonb, timestamptz) to service_role;

-- admin_set_contact_consent(): records, corrects or clears the consent evidence of contact
-- p_contact_id of campaign p_campaign_id (scheduler-admin PATCH /campaigns/<id>/contacts/<contact
-- id>): the consent columns named in p_fields are set, the others kept, in one statement with its
-- row in operator_audit_log (contact.consent, the evidence before and after). The contacts table's
-- CHECK constraints are the last word (23514 naming the constraint). Null when the campaign has no
-- such contact.
create function public.admin_set_contact_consent(
  p_campaign_id bigint,
  p_contact_id bigint,
  p_fields jsonb,
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
  v_before jsonb;
  v_after jsonb;
begin
  if jsonb_typeof(p_fields) is distinct from 'object' then
    raise exception 'the consent fields must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  select jsonb_build_object('consent_at', ct.consent_at, 'consent_method', ct.consent_method,
                            'consent_source', ct.consent_source, 'consent_expires_at', ct.consent_expires_at)
    into v_before
    from public.contacts ct
   where ct.id = p_contact_id and ct.campaign_id = p_campaign_id
     for update;
  if not found then
    return null;
  end if;
  update public.contacts ct
     set consent_at = case when p_fields ? 'consent_at' then r.consent_at else ct.consent_at end,
         consent_method = case when p_fields ? 'consent_method' then r.consent_method else ct.consent_method end,
         consent_source = case when p_fields ? 'consent_source' then r.consent_source else ct.consent_source end,
         consent_expires_at = case when p_fields ? 'consent_expires_at' then r.consent_expires_at
                                   else ct.consent_expires_at end,
         updated_at = p_now
    from jsonb_populate_record(null::public.contacts, p_fields) r
   where ct.id = p_contact_id
  returning jsonb_build_object('id', ct.id, 'campaign_id', ct.campaign_id, 'phone', ct.phone, 'status', ct.status,
                               'consent_at', ct.consent_at, 'consent_method', ct.consent_method,
                               'consent_source', ct.consent_source, 'consent_expires_at', ct.consent_expires_at)
    into v_after;
  perform public.record_operator_action(p_actor, p_actor_token_id, 'contact.consent',
                                        'contact ' || p_contact_id || ' of campaign ' || p_campaign_id,
                                        v_before, v_after - array['id', 'campaign_id', 'phone', 'status'], p_now,
                                        p_actor_role);
  return v_after;
end;
$$;

comment on function public.admin_set_contact_consent(bigint, bigint, jsonb, text, bigint, timestamptz, text) is
  'Sets the consent columns named in p_fields (consent_at, consent_method, consent_source, consent_expires_at; null clears) on contact p_contact_id of campaign p_campaign_id, the others kept, and records contact.consent (the evidence before and after) in operator_audit_log. Returns {id, campaign_id, phone, status, consent_at, consent_method, consent_source, consent_expires_at}, or null when the campaign has no such contact. The contacts table''s CHECK constraints raise 23514 naming the constraint.';

revoke all on function public.admin_set_contact_consent(bigint, bigint, jsonb, text, bigint, timestamptz, text) from public, anon, authenticated;
grant execute on function public.admin_set_contact_consent(bigint, bigint, jsonb, text, bigint, timestamptz, text) to service_role;
