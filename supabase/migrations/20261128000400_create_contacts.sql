-- The people a campaign calls. A contact holds at most one active call at a time (status
-- in_progress); attempts counts calls actually sent to the provider.
create table public.contacts (
  id bigint generated always as identity primary key,
  campaign_id bigint not null references public.campaigns (id) on delete cascade,
  phone text not null,
  name text,
  time_zone text,
  status public.contact_status not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_call_status public.call_status,
  last_error text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint contacts_phone_is_e164 check (public.is_e164(phone)),
  constraint contacts_time_zone_is_valid check (time_zone is null or public.is_valid_time_zone(time_zone)),
  constraint contacts_attempts_is_not_negative check (attempts >= 0),
  constraint contacts_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  constraint contacts_phone_is_unique_per_campaign unique (campaign_id, phone)
);

comment on table public.contacts is
  'Contacts of a campaign. time_zone (IANA) overrides the campaign''s for the calling window. attempts counts calls sent to the provider; a reserved call released before dialling does not count.';

-- Due contacts of a campaign, in the order they are served (contacts without their own zone).
create index contacts_due_idx on public.contacts (campaign_id, next_attempt_at, id)
  where status = 'pending' and time_zone is null;
-- Due contacts that carry their own time zone.
create index contacts_due_own_time_zone_idx on public.contacts (campaign_id, next_attempt_at, id)
  where status = 'pending' and time_zone is not null;
-- "Anything left to do?" for campaign completion.
create index contacts_open_idx on public.contacts (campaign_id) where status in ('pending', 'in_progress');
-- Do-not-call matching.
create index contacts_phone_idx on public.contacts (phone);

alter table public.contacts enable row level security;
revoke all on table public.contacts from anon, authenticated;
revoke all on sequence public.contacts_id_seq from anon, authenticated;
