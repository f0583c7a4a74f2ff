-- A campaign's provider is its account's kind. The foreign key campaigns_provider_matches_account
-- holds it; this trigger fills it in when an account is chosen, so whoever names an account (the admin API, the CLI, the
-- dashboard, a plain insert) never has to repeat the kind, and choosing an account of another kind
-- moves the campaign to that platform. Calls copy the campaign's provider when they are reserved:
-- the dispatcher picks the adapter of each call from it.
create function public._campaigns_provider_from_account()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_kind text;
begin
  -- Only choosing an account moves the provider: a provider changed on its own is left for the
  -- foreign key to refuse when it is not the account's kind, and a value that is no kind at all for
  -- campaigns_provider_is_known to name.
  if tg_op = 'UPDATE' and new.provider_account is not distinct from old.provider_account then
    return new;
  end if;
  if new.provider is null or new.provider not in ('twilio', 'signalwire', 'vapi', 'retell') then
    return new;
  end if;
  -- An unknown account leaves the value alone: the foreign keys name the problem.
  select a.provider into v_kind from public.provider_accounts a where a.id = new.provider_account;
  if found then
    new.provider := v_kind;
  end if;
  return new;
end;
$$;

revoke all on function public._campaigns_provider_from_account() from public, anon, authenticated;

comment on function public._campaigns_provider_from_account() is
  'Trigger: sets campaigns.provider to the kind of its provider_account on insert and when provider_account changes (a provider that is no known kind is left for the CHECK to refuse; a provider changed alone, for the foreign key).';

create trigger campaigns_provider_from_account
  before insert or update of provider_account, provider on public.campaigns
  for each row execute function public._campaigns_provider_from_account();
