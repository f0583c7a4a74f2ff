-- Keep contacts' status in step with the do-not-call list, set-based (statement triggers), so the
-- tick never has to scan all contacts against the list.

create function public._mark_do_not_call_contacts_on_list_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.contacts ct
     set status = 'do_not_call',
         last_error = 'number is on the do-not-call list',
         updated_at = now()
    from new_numbers n
   where ct.phone = n.phone
     and ct.status = 'pending';
  return null;
end;
$$;

create trigger do_not_call_numbers_mark_contacts
  after insert on public.do_not_call_numbers
  referencing new table as new_numbers
  for each statement execute function public._mark_do_not_call_contacts_on_list_insert();

create function public._mark_do_not_call_contacts_on_contact_insert()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.contacts ct
     set status = 'do_not_call',
         last_error = 'number is on the do-not-call list',
         updated_at = now()
    from new_contacts n
    join public.do_not_call_numbers d on d.phone = n.phone
   where ct.id = n.id
     and ct.status = 'pending';
  return null;
end;
$$;

create trigger contacts_mark_do_not_call
  after insert on public.contacts
  referencing new table as new_contacts
  for each statement execute function public._mark_do_not_call_contacts_on_contact_insert();

revoke all on function public._mark_do_not_call_contacts_on_list_insert() from public, anon, authenticated;
revoke all on function public._mark_do_not_call_contacts_on_contact_insert() from public, anon, authenticated;
