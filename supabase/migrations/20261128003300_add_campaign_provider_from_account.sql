-- A campaign's provider is its account's kind. The foreign key campaigns_provider_matches_account
-- holds it; this trigger fills it in, so whoever names an account (the admin API, the CLI, the
-- dashboard, a plain insert) never has to repeat the kind, and choosing an account of another kind
-- moves the campaign to that platform. Calls copy the campaign's provider when they are reserved:
-- the dispatcher picks the adapter of each call from it.
create function public._campaigns_provider_from_account()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- An unknown account leaves the value alone: the foreign keys name the problem.
  select a.provider into new.provider
    from public.provider_accounts a
   where a.id = new.provider_account;
  if not found then
    new.provider := coalesce(new.provider, 'twilio');
  end if;
  return new;
end;
$$;

revoke all on function public._campaigns_provider_from_account() from public, anon, authenticated;

comment on function public._campaigns_provider_from_account() is
  'Trigger: sets campaigns.provider to the kind of its provider_account (on insert and when provider_account or provider changes).';

create trigger campaigns_provider_from_account
  before insert or update of provider_account, provider on public.campaigns
  for each row execute function public._campaigns_provider_from_account();
