// Demo data for `npm start` (and small fixtures for the end-to-end tests): campaigns with
// different caps, priorities and time zones, a few hundred contacts, two numbers on the
// do-not-call list and one number the provider rejects as invalid. Every phone number is from a
// range reserved for fiction (UK Ofcom 07700 900xxx, North American 555-01xx), and the caller id
// is Twilio's test "From" number.

import pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Twilio's magic test number for "valid From number". */
export const DEMO_CALLER_ID = '+15005550006';
/** Twilio's magic test number for "To is not a valid phone number" (error 21217). */
export const INVALID_DEMO_NUMBER = '+15005550001';

/** What the Twilio adapter sends as the call's instructions (TwiML), so calls need no web server. */
export const DEMO_PROVIDER_SETTINGS = {
  twiml: '<Response><Say voice="alice">Hello, this is a demo call from the campaign scheduler. Goodbye.</Say></Response>',
};

/** A calling window open around the clock (the window is [start, end); end is the last microsecond). */
export const ALL_DAY = { window_start: '00:00', window_end: '23:59:59.999999', window_days: [1, 2, 3, 4, 5, 6, 7] };

export interface ContactSeed {
  phone: string;
  name?: string;
  /** IANA zone overriding the campaign's, for the calling window. */
  time_zone?: string;
}

export interface CampaignSeed {
  name: string;
  status?: 'QUEUED' | 'RUNNING' | 'PAUSED';
  max_concurrent_calls: number;
  priority?: number;
  time_zone: string;
  window_start: string;
  window_end: string;
  window_days: number[];
  max_attempts?: number;
  /** Every outcome's retry delay (busy, no answer, machine, failed): short, for a demo. */
  retry_delay?: string;
  caller_id?: string;
  provider_settings?: Record<string, unknown>;
  contacts: ContactSeed[];
}

export interface SeededCampaign {
  campaignId: string;
  name: string;
  contacts: number;
}

/** Inserts one campaign and its contacts (in the caller's transaction, if any). */
export async function seedCampaign(client: Queryable, seed: CampaignSeed): Promise<SeededCampaign> {
  const { rows } = await client.query<{ id: string }>(
    `insert into public.campaigns
       (name, status, max_concurrent_calls, priority, caller_id, provider_settings, time_zone,
        window_start, window_end, window_days, max_attempts, retry_busy_delay, retry_no_answer_delay,
        retry_machine_delay, retry_failed_delay)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::interval, $12::interval, $12::interval, $12::interval)
     returning id::text`,
    [
      seed.name,
      seed.status ?? 'QUEUED',
      seed.max_concurrent_calls,
      seed.priority ?? 0,
      seed.caller_id ?? DEMO_CALLER_ID,
      JSON.stringify(seed.provider_settings ?? DEMO_PROVIDER_SETTINGS),
      seed.time_zone,
      seed.window_start,
      seed.window_end,
      seed.window_days,
      seed.max_attempts ?? 3,
      seed.retry_delay ?? '2 minutes',
    ],
  );
  const campaignId = rows[0]!.id;
  if (seed.contacts.length > 0) {
    await client.query(
      `insert into public.contacts (campaign_id, phone, name, time_zone)
       select $1::bigint, c.phone, c.name, c.time_zone
         from unnest($2::text[], $3::text[], $4::text[]) as c(phone, name, time_zone)`,
      [
        campaignId,
        seed.contacts.map((c) => c.phone),
        seed.contacts.map((c) => c.name ?? null),
        seed.contacts.map((c) => c.time_zone ?? null),
      ],
    );
  }
  return { campaignId, name: seed.name, contacts: seed.contacts.length };
}

const FIRST = [
  'Ada',
  'Ben',
  'Chloe',
  'Dev',
  'Elena',
  'Farid',
  'Grace',
  'Hiro',
  'Ines',
  'Jonas',
  'Kemi',
  'Liam',
  'Maya',
  'Noah',
  'Olga',
  'Priya',
  'Quinn',
  'Rosa',
  'Sam',
  'Tariq',
  'Uma',
  'Viktor',
  'Wen',
  'Yara',
  'Zoe',
];
const LAST = [
  'Okafor',
  'Smith',
  'Nakamura',
  'Rossi',
  'Müller',
  'García',
  'Kowalski',
  'Haddad',
  'Nguyen',
  'Johansson',
  'Silva',
  'Patel',
  'Brown',
  'Dubois',
  'Ivanova',
  'Kim',
  'Murphy',
];

function personName(i: number): string {
  return `${FIRST[i % FIRST.length]} ${LAST[(i * 7 + 3) % LAST.length]}`;
}

/** UK drama numbers: +44 7700 900000 .. 900999. */
function ukNumber(i: number): string {
  return `+447700900${String(i).padStart(3, '0')}`;
}

/** North American fictional numbers: +1 NPA 555 0100 .. 0199 over a few area codes. */
const AREA_CODES = ['202', '212', '312', '415', '617', '713'];
function usNumber(i: number): string {
  return `+1${AREA_CODES[Math.floor(i / 100) % AREA_CODES.length]}5550${String(100 + (i % 100))}`;
}

/** The demo: four campaigns, 310 contacts. Every window is open around the clock but one. */
export function demoCampaigns(): { campaigns: CampaignSeed[]; doNotCall: { phone: string; reason: string }[] } {
  const renewals: ContactSeed[] = Array.from({ length: 120 }, (_, i) => ({ phone: ukNumber(i), name: personName(i) }));
  const reminders: ContactSeed[] = Array.from({ length: 90 }, (_, i) => ({
    phone: usNumber(i),
    name: personName(i + 120),
    // Some contacts live in other US zones: their own zone decides their window.
    ...(i % 5 === 1 ? { time_zone: 'America/Chicago' } : i % 5 === 2 ? { time_zone: 'America/Los_Angeles' } : {}),
  }));
  // Early in the list, so the demo shows a rejected number (an error of a run) within minutes.
  reminders.splice(3, 0, { phone: INVALID_DEMO_NUMBER, name: 'Invalid Number (rejected by the provider)' });
  const survey: ContactSeed[] = Array.from({ length: 60 }, (_, i) => ({ phone: ukNumber(200 + i), name: personName(i + 210) }));
  const invitations: ContactSeed[] = Array.from(
    { length: 39 },
    (_, i) => ({ phone: usNumber(100 + i), name: personName(i + 270) }),
  );

  const campaigns: CampaignSeed[] = [
    {
      name: 'Policy renewals (UK)',
      max_concurrent_calls: 6,
      priority: 10,
      time_zone: 'Europe/London',
      ...ALL_DAY,
      max_attempts: 3,
      retry_delay: '2 minutes',
      contacts: renewals,
    },
    {
      name: 'Appointment reminders (US)',
      max_concurrent_calls: 4,
      priority: 5,
      time_zone: 'America/New_York',
      ...ALL_DAY,
      max_attempts: 2,
      retry_delay: '3 minutes',
      contacts: reminders,
    },
    {
      // The one realistic window: office hours in Berlin, Monday to Friday.
      name: 'Customer survey (Berlin office hours)',
      max_concurrent_calls: 3,
      priority: 0,
      time_zone: 'Europe/Berlin',
      window_start: '09:00',
      window_end: '18:00',
      window_days: [1, 2, 3, 4, 5],
      max_attempts: 2,
      retry_delay: '1 hour',
      contacts: survey,
    },
    {
      name: 'Event invitations (Sydney)',
      max_concurrent_calls: 2,
      priority: 1,
      time_zone: 'Australia/Sydney',
      ...ALL_DAY,
      max_attempts: 1,
      contacts: invitations,
    },
  ];
  const doNotCall = [
    { phone: ukNumber(7), reason: 'demo: asked not to be called' },
    { phone: usNumber(11), reason: 'demo: registered on the national do-not-call list' },
  ];
  return { campaigns, doNotCall };
}

export interface DemoSeedResult {
  seeded: boolean;
  campaigns: number;
  contacts: number;
}

/**
 * Seeds the demo when the database has no campaign yet (one transaction, guarded by an advisory
 * lock so two starts cannot both seed). Returns what it did.
 */
export async function seedDemoIfEmpty(databaseUrl: string): Promise<DemoSeedResult> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'demo-seed' });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('campaign-scheduler demo seed'))`);
    const { rows } = await client.query<{ n: string }>('select count(*) as n from public.campaigns');
    if (Number(rows[0]?.n ?? 0) > 0) {
      await client.query('rollback');
      return { seeded: false, campaigns: Number(rows[0]?.n ?? 0), contacts: 0 };
    }
    const demo = demoCampaigns();
    let contacts = 0;
    for (const c of demo.campaigns) contacts += (await seedCampaign(client, c)).contacts;
    await client.query(
      `insert into public.do_not_call_numbers (phone, reason)
       select d.phone, d.reason from unnest($1::text[], $2::text[]) as d(phone, reason)
       on conflict (phone) do nothing`,
      [demo.doNotCall.map((d) => d.phone), demo.doNotCall.map((d) => d.reason)],
    );
    await client.query('commit');
    return { seeded: true, campaigns: demo.campaigns.length, contacts };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
