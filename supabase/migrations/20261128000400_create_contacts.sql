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
  -- Served before the campaign's other due contacts, higher first (a fresh lead: speed to lead).
  priority integer not null default 0,
  -- A scheduled callback: the instant the person asked to be called again (the API, the dashboard,
  -- the call flow through its signed callback URL). While set, next_attempt_at is that instant,
  -- the contact is reserved before every other due contact of its campaign, and it is called even
  -- with its attempts used (the person asked); windows, calling-hours rules, consent, do-not-call
  -- and the caps still hold. Cleared when the call placed for it ends.
  callback_at timestamptz,
  last_call_status public.call_status,
  last_error text,
  metadata jsonb not null default '{}'::jsonb,
  -- Consent evidence: when the person agreed to be called (consent_at), how (consent_method), in
  -- which words or through which source (consent_source: the form's URL, the script read, the
  -- document's reference), and until when it holds (consent_expires_at; null: no end). A campaign
  -- with requires_consent calls a contact only while its consent is valid (given at or before the
  -- moment, not yet expired).
  consent_at timestamptz,
  consent_method text,
  consent_source text,
  consent_expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint contacts_phone_is_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  constraint contacts_attempts_is_not_negative check (attempts >= 0),
  constraint contacts_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  constraint contacts_phone_is_unique_per_campaign unique (campaign_id, phone),
  -- Consent is evidence as a whole: a time and a method together, a source and an expiry only
  -- with them, the expiry after the consent.
  constraint contacts_consent_method_is_known check (
    consent_method in ('web_form', 'verbal', 'written', 'sms', 'email', 'other')
  ),
  constraint contacts_consent_has_time_and_method check ((consent_at is null) = (consent_method is null)),
  constraint contacts_consent_source_is_bounded check (
    consent_source is null or (consent_at is not null and length(btrim(consent_source)) between 1 and 1000)
  ),
  constraint contacts_consent_expires_after_given check (
    consent_expires_at is null or (consent_at is not null and consent_expires_at > consent_at)
  )
);

comment on table public.contacts is
  'Contacts of a campaign. time_zone (IANA) overrides the campaign''s for the calling window; for the calling_hours_rules it picks among the number''s zones when it is one of them, else adds to them (calling_hours_zones()). attempts counts calls sent to the provider; a reserved call released before dialling does not count.';
comment on column public.contacts.priority is 'Order among the due contacts of its campaign: higher first (after due callbacks), then next_attempt_at. Default 0.';
comment on column public.contacts.callback_at is 'A scheduled callback (the person asked to be called at that instant), or null. next_attempt_at equals it while set; due callbacks are reserved first and regardless of attempts used, within windows, calling-hours rules, consent, do-not-call and caps. Cleared when the call reserved for it ends.';
comment on column public.contacts.consent_at is 'When the person gave consent to be called, or null (none recorded). Valid at a moment t when consent_at <= t and (consent_expires_at is null or consent_expires_at > t); a campaign with requires_consent calls only then.';
comment on column public.contacts.consent_method is 'How consent was given: web_form, verbal, written, sms, email or other; set exactly when consent_at is.';
comment on column public.contacts.consent_source is 'Where the consent comes from or its wording (a form URL, the script read, a document reference), 1 to 1000 characters, or null; only with consent_at.';
comment on column public.contacts.consent_expires_at is 'When the consent stops holding (after consent_at), or null: it does not expire.';

-- contacts_time_zone_is_valid: see public._check_time_zone().
create trigger contacts_time_zone_is_valid
  before insert or update of time_zone on public.contacts
  for each row execute function public._check_time_zone('contacts_time_zone_is_valid');

-- Pending contacts of a campaign, in the order they are served (due callbacks first, then higher
-- priority, then next_attempt_at; a contact not yet due is skipped inside the index): a campaign
-- inside its window is read with one index probe, and the completion check probes it too (a contact in progress always
-- has an active call, which already rules its campaign out). A reservation moves a contact out of
-- pending: no index of open contacts to keep up.
create index contacts_pending_idx
  on public.contacts (campaign_id, (callback_at is not null) desc, priority desc, next_attempt_at, id)
  where status = 'pending';
-- Due contacts that carry their own time zone (served outside their campaign's window).
create index contacts_due_own_time_zone_idx
  on public.contacts (campaign_id, (callback_at is not null) desc, priority desc, next_attempt_at, id)
  where status = 'pending' and time_zone is not null;
-- Do-not-call matching.
create index contacts_phone_idx on public.contacts (phone);

alter table public.contacts enable row level security;
revoke all on table public.contacts from anon, authenticated;
revoke all on sequence public.contacts_id_seq from anon, authenticated;
