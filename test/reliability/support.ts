// Shared helpers of the reliability and security suites: seeding through plain SQL, the DESIGN.md
// invariants as one SQL query, an independent calling-window oracle (Intl, not the database's own
// function), table snapshots for "nothing changed", signed Twilio callbacks, and small process
// helpers. Everything runs against the real database and the real functions; nothing here imitates
// the product.

import pg from 'pg';
import { computeTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';
import { functionsDbUrl, testDbUrl } from '../helpers/db.ts';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** DESIGN.md "Active": the statuses that hold a slot of the caps. */
export const ACTIVE = `('queued', 'dialing', 'unknown', 'ringing', 'in_progress')`;

/** One action per campaign (the campaigns_* constraints accept it, launch_due_calls() serves it). */
export const TWIML = { twiml: '<Response><Say>reliability suite</Say></Response>' };
export const CALLER_ID = '+15559990000';

/** A pool whose connections are separate backends, so Promise.all over it really races. */
export function racePool(max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: testDbUrl(), max, application_name: 'reliability-suite' });
  pool.on('error', () => undefined);
  return pool;
}

export async function connect(url = testDbUrl()): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'reliability-suite' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export interface CampaignRow {
  name?: string;
  cap?: number;
  status?: 'QUEUED' | 'RUNNING' | 'PAUSED' | 'COMPLETED' | 'CANCELLED';
  timeZone?: string;
  windowStart?: string;
  windowEnd?: string;
  windowDays?: number[];
  maxAttempts?: number;
  retryDelay?: string;
  retryBackoff?: number;
  priority?: number;
}

/** Inserts a campaign (any hour, any day unless told otherwise); returns its id. */
export async function insertCampaign(db: Queryable, c: CampaignRow = {}): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `insert into public.campaigns (name, max_concurrent_calls, status, caller_id, provider_settings, time_zone,
                                   window_start, window_end, window_days, max_attempts, retry_delay,
                                   retry_backoff, priority)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     returning id`,
    [
      c.name ?? 'campaign',
      c.cap ?? 5,
      c.status ?? 'QUEUED',
      CALLER_ID,
      JSON.stringify(TWIML),
      c.timeZone ?? 'UTC',
      c.windowStart ?? '00:00',
      c.windowEnd ?? '24:00',
      c.windowDays ?? [1, 2, 3, 4, 5, 6, 7],
      c.maxAttempts ?? 3,
      c.retryDelay ?? '1 minute',
      c.retryBackoff ?? 1,
      c.priority ?? 0,
    ],
  );
  return Number(rows[0]!.id);
}

/** Inserts contacts with the given phones (due since 2026-01-01); returns their ids in order. */
export async function insertContacts(
  db: Queryable,
  campaignId: number,
  phones: string[],
  timeZones: Array<string | null> = [],
): Promise<number[]> {
  if (phones.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `insert into public.contacts (campaign_id, phone, time_zone, next_attempt_at)
     select $1, u.p, u.z, timestamptz '2026-01-01 00:00:00+00'
       from unnest($2::text[], $3::text[]) with ordinality as u (p, z, n)
      order by u.n
     returning id`,
    [campaignId, phones, phones.map((_, i) => timeZones[i] ?? null)],
  );
  return rows.map((r) => Number(r.id));
}

/** n distinct E.164 numbers +1555<block><index>, distinct across blocks. */
export function phones(n: number, block = 0): string[] {
  return Array.from({ length: n }, (_, i) => `+1555${String(block).padStart(2, '0')}${String(i).padStart(5, '0')}`);
}

/**
 * DESIGN.md invariants 1, 2, the attempt half of 3, and 5 (no run left running), on the committed
 * state. One sentence per violation; empty when all hold.
 */
export async function invariantViolations(db: Queryable, opts: { allowRunning?: boolean } = {}): Promise<string[]> {
  // The one SQL checker (supabase/tests/_fixtures/tests_schema.psql).
  const { rows } = await db.query<{ v: string }>(
    `select format('%s (%s)', detail, invariant) as v from tests.invariant_violations(null, $1)`,
    [opts.allowRunning ?? false],
  );
  return rows.map((r) => r.v);
}

// ------------------------------------------------------------------------------------------------
// Calling windows, computed with Intl (ICU's time zone data), independently of the database.

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local wall-clock seconds since midnight and ISO weekday of an instant in a zone. */
function localTime(at: Date, timeZone: string): { seconds: number; isoDay: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
    isoDay: WEEKDAYS[parts.weekday ?? ''] ?? 0,
  };
}

const toSeconds = (hhmm: string) => {
  const [h = '0', m = '0'] = hhmm.split(':');
  return Number(h) * 3600 + Number(m) * 60;
};

/**
 * DESIGN.md's calling window: [start, end) local time on ISO days; start > end runs overnight and
 * the hours after midnight belong to the day the window opened.
 */
export function withinWindow(at: Date, timeZone: string, start: string, end: string, days: number[]): boolean {
  const { seconds, isoDay } = localTime(at, timeZone);
  const s = toSeconds(start);
  const e = toSeconds(end);
  if (s < e) return seconds >= s && seconds < e && days.includes(isoDay);
  const previousDay = isoDay === 1 ? 7 : isoDay - 1;
  return (seconds >= s && days.includes(isoDay)) || (seconds < e && days.includes(previousDay));
}

// ------------------------------------------------------------------------------------------------
// Snapshots: every table in public, rows in a stable order, as one JSON string per table.

export async function snapshotTables(db: Queryable): Promise<Record<string, string>> {
  const { rows: tables } = await db.query<{ t: string }>(
    `select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const { rows } = await db.query<{ j: string }>(`select coalesce(json_agg(x order by x::text), '[]')::text as j from ${t} x`);
    out[t] = rows[0]!.j;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Twilio status callbacks, signed the way Twilio signs them.

export interface SignedCallback {
  url: string;
  body: string;
  headers: Record<string, string>;
}

export async function signedCallback(
  authToken: string,
  functionsUrl: string,
  callId: string | null,
  params: Record<string, string>,
): Promise<SignedCallback> {
  const url = `${functionsUrl}/call-status${callId === null ? '' : `?call_id=${encodeURIComponent(callId)}`}`;
  const form = new URLSearchParams(params);
  const signature = await computeTwilioSignature(authToken, url, form);
  return {
    url,
    body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
  };
}

// ------------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until fn() is truthy or the timeout passes; returns the last value. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!v && Date.now() < deadline) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}

/** mulberry32: a seeded PRNG, so a failing scenario replays from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A response body that looks like a leaked stack trace or internal error detail. */
export function looksLikeStackTrace(text: string): boolean {
  return /\n\s+at\s|\bat\s+\S+\s+\(?(file|ext|node):|\.ts:\d+:\d+|Error:\s.*\n/.test(text);
}

// ------------------------------------------------------------------------------------------------
// The functions gateway's environment, and what a test asks of the simulator afterwards.

export function secret(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

export interface SimLike {
  url: string;
  accountSid: string;
  authToken: string;
}

/** The Edge Functions' environment for a test: the simulator as Twilio, fresh secrets, the pooler's URL (functionsDbUrl). */
export function functionsEnv(
  sim: SimLike,
  extra: Record<string, string | undefined> = {},
  databaseUrl = functionsDbUrl(),
): Record<string, string | undefined> {
  return {
    SUPABASE_DB_URL: databaseUrl,
    CRON_SECRET: secret('cron'),
    ADMIN_TOKEN: secret('admin'),
    TWILIO_ACCOUNT_SID: sim.accountSid,
    TWILIO_AUTH_TOKEN: sim.authToken,
    TWILIO_API_BASE_URL: sim.url,
    TICK_JITTER_MS: '0',
    ...extra,
  };
}

/** POSTs a 'local' tick to a started gateway; never throws (a dead gateway answers status 0). */
export async function tick(functionsUrl: string, cronSecret: string, timeoutMs = 60_000): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${functionsUrl}/scheduler-tick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cronSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ trigger: 'local' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  } catch (err) {
    return { status: 0, body: { error: err instanceof Error ? err.message : String(err) } };
  }
}

/**
 * Invariant 4 seen from the provider: how many calls the simulator created for each of our call
 * ids (the StatusCallback URL of every created call carries `call_id=<our id>`).
 */
export function createdPerCall(calls: Array<{ statusCallback: string | null }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) {
    const id = c.statusCallback ? (new URL(c.statusCallback).searchParams.get('call_id') ?? 'none') : 'none';
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Numbers the provider created more calls for than the contact has counted attempts. */
export async function overDialledNumbers(db: Queryable, createdPerNumber: Record<string, number>): Promise<string[]> {
  const { rows } = await db.query<{ phone: string; attempts: number; dialled: string }>(
    `select ct.phone, ct.attempts, (select count(*) from public.calls cl where cl.contact_id = ct.id and cl.dialed_at is not null) as dialled
       from public.contacts ct`,
  );
  const out: string[] = [];
  for (const r of rows) {
    const created = createdPerNumber[r.phone] ?? 0;
    if (created > r.attempts || created > Number(r.dialled)) {
      out.push(`${r.phone}: created ${created} times at the provider, ${r.attempts} attempts counted, ${r.dialled} calls dialled`);
    }
  }
  for (const phone of Object.keys(createdPerNumber)) {
    if (!rows.some((r) => r.phone === phone)) out.push(`${phone}: created at the provider but not one of our contacts`);
  }
  return out;
}
