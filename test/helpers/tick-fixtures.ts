// Fixtures for the suites in test/functions: the real Deno gateway serving the Edge Functions,
// the Twilio simulator on loopback, and the real database. Nothing here imitates a component: it
// starts them, feeds them data through SQL, and reads back what they did.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTwilioSimulator, type SimOptions, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { computeTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';
import { startGateway, type Gateway } from './functions.ts';
import { functionsDbUrl, testDbUrl } from './db.ts';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Statuses holding a slot of the caps (DESIGN.md: "Active"). */
export const ACTIVE_SQL = `('queued', 'dialing', 'unknown', 'ringing', 'in_progress')`;

/** A well-formed call action (exactly one of twiml / url / application_sid). */
export const TWIML = { twiml: '<Response><Say>Hello from the functions suite</Say></Response>' };

/** A random secret of the kind an operator would configure (hex, 32 characters). */
export function randomSecret(): string {
  return randomBytes(16).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Waiting

/**
 * Polls fn until it returns something other than undefined / null / false, and returns that.
 * Bounded: throws with `what` (and the last value seen) when timeoutMs passes.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    last = v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// ---------------------------------------------------------------------------------------------
// Data

let phoneCounter = 0;
/** A fresh E.164 number, unique within the process (never Twilio's magic invalid number). */
export function freshPhone(): string {
  phoneCounter += 1;
  return `+1444${String(phoneCounter).padStart(7, '0')}`;
}

export interface CampaignSpec {
  name?: string;
  cap?: number;
  status?: 'QUEUED' | 'RUNNING' | 'PAUSED' | 'COMPLETED' | 'CANCELLED';
  callerId?: string | null;
  maxAttempts?: number;
  retryDelay?: string;
  priority?: number;
  providerSettings?: Record<string, unknown>;
}

/** A campaign that may dial at any hour of any day. Returns its id (text, as the API answers). */
export async function createCampaign(db: Queryable, spec: CampaignSpec = {}): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into public.campaigns (name, max_concurrent_calls, status, caller_id, time_zone, window_start, window_end,
                                   window_days, max_attempts, retry_delay, retry_backoff, priority, provider_settings)
     values ($1, $2, $3, $4, 'UTC', '00:00', '23:59', '{1,2,3,4,5,6,7}', $5, $6, 1, $7, $8)
     returning id::text`,
    [
      spec.name ?? 'functions suite campaign',
      spec.cap ?? 5,
      spec.status ?? 'QUEUED',
      spec.callerId === undefined ? '+15559990000' : spec.callerId,
      spec.maxAttempts ?? 3,
      // Long by default, so that a failed attempt is not retried inside a test by accident.
      spec.retryDelay ?? '1 hour',
      spec.priority ?? 0,
      JSON.stringify(spec.providerSettings ?? TWIML),
    ],
  );
  return rows[0]!.id;
}

/** Adds contacts, due since long ago; `phones` is a list of numbers or how many fresh ones. */
export async function addContacts(db: Queryable, campaignId: string, phones: string[] | number): Promise<string[]> {
  const list = typeof phones === 'number' ? Array.from({ length: phones }, freshPhone) : phones;
  if (list.length === 0) return [];
  await db.query(
    `insert into public.contacts (campaign_id, phone, next_attempt_at)
     select $1, p, timestamptz '2026-01-01 00:00:00+00' from unnest($2::text[]) with ordinality as u (p, n) order by n`,
    [campaignId, list],
  );
  return list;
}

/** Updates the scheduler settings row (column -> value). */
export async function updateSettings(db: Queryable, patch: Record<string, string | number>): Promise<void> {
  const keys = Object.keys(patch);
  if (keys.length === 0) return;
  if (!keys.every((k) => /^[a-z_]+$/.test(k))) throw new Error(`bad settings key in ${keys.join(', ')}`);
  const sets = keys.map((k, i) => `${k} = $${i + 1}`).join(', ');
  await db.query(`update public.scheduler_settings set ${sets} where id`, Object.values(patch));
}

/** Settings for tests where pacing must not matter. */
export const FAST_SETTINGS = { provider_calls_per_second: 1000 } as const;

export interface RunRow {
  id: string;
  trigger: string;
  scheduled_for: Date | null;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  campaigns_processed: number;
  calls_reserved: number;
  calls_launched: number;
  calls_failed: number;
  calls_unknown: number;
  calls_requeued: number;
  calls_released: number;
  calls_expired: number;
  campaigns_completed: number;
  breaker_state: string | null;
  duplicate_of: string | null;
  errors: Array<Record<string, unknown>>;
  details: Record<string, unknown>;
}

export async function runRow(db: Queryable, runId: string | number): Promise<RunRow> {
  const { rows } = await db.query<RunRow>(
    'select r.*, r.id::text as id, r.duplicate_of::text as duplicate_of from public.scheduler_runs r where r.id = $1',
    [runId],
  );
  if (!rows[0]) throw new Error(`no scheduler_runs row ${runId}`);
  return rows[0];
}

export async function allRuns(db: Queryable): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(
    'select r.*, r.id::text as id, r.duplicate_of::text as duplicate_of from public.scheduler_runs r order by r.id',
  );
  return rows;
}

export interface CallRow {
  id: string;
  campaign_id: string;
  contact_id: string;
  attempt: number;
  status: string;
  provider_call_id: string | null;
  to_phone: string;
  dispatch_after: Date;
  dialed_at: Date | null;
  updated_at: Date;
  error: string | null;
  error_code: string | null;
  dispatch_run_id: string | null;
}

export async function callRows(db: Queryable, where = 'true', params: unknown[] = []): Promise<CallRow[]> {
  const { rows } = await db.query<CallRow>(
    `select c.*, c.id::text as id, c.campaign_id::text as campaign_id, c.contact_id::text as contact_id,
            c.dispatch_run_id::text as dispatch_run_id
       from public.calls c where ${where} order by c.id`,
    params,
  );
  return rows;
}

export async function contactRows(
  db: Queryable,
  campaignId?: string,
): Promise<Array<{ id: string; phone: string; status: string; attempts: number; last_error: string | null }>> {
  const { rows } = await db.query(
    `select id::text as id, phone, status::text as status, attempts, last_error from public.contacts
      where $1::bigint is null or campaign_id = $1 order by id`,
    [campaignId ?? null],
  );
  return rows;
}

/** Active calls (holding a slot), of one campaign or of all. */
export async function activeCalls(db: Queryable, campaignId?: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from public.calls where status in ${ACTIVE_SQL} and ($1::bigint is null or campaign_id = $1)`,
    [campaignId ?? null],
  );
  return rows[0]!.n;
}

export async function countWhere(db: Queryable, table: string, where: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where ${where}`, params);
  return rows[0]!.n;
}

export async function breakerRow(
  db: Queryable,
): Promise<{ state: string; consecutive_failures: number; open_until: Date | null } | undefined> {
  const { rows } = await db.query('select state, consecutive_failures, open_until from public.provider_circuit_breakers where provider = $1', [
    'twilio',
  ]);
  return rows[0];
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Simulator outcome weights under which every call is answered and completes. */
export const ALL_COMPLETED = { completed: 1, 'no-answer': 0, busy: 0, failed: 0 } as const;

/** The simulator with fast calls (timeScale small), seeded, callbacks on. */
export function startSim(opts: SimOptions = {}): Promise<TwilioSimulator> {
  return startTwilioSimulator({ timeScale: 0.005, seed: 7, ...opts });
}

/**
 * The environment the functions need to reach the database (through PgBouncer in transaction mode
 * under `npm test`, as on Supabase; see functionsDbUrl) and the simulator.
 */
export function functionsEnv(sim: TwilioSimulator, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SUPABASE_DB_URL: functionsDbUrl(),
    TWILIO_ACCOUNT_SID: sim.accountSid,
    TWILIO_AUTH_TOKEN: sim.authToken,
    TWILIO_API_BASE_URL: sim.url,
    TICK_JITTER_MS: '0',
    ...extra,
  };
}

export { startGateway, type Gateway, type TwilioSimulator };

/**
 * JSON log lines of one event written after `mark` (an index into gw.logs taken earlier). Run and
 * call ids restart at 1 after resetData(), so a test looks only at its own lines.
 */
export function eventsSince(gw: Gateway, mark: number, event: string): Array<Record<string, unknown>> {
  return gw.logs
    .slice(mark)
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((o) => o.event === event);
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export async function request(url: string, init: RequestInit = {}): Promise<HttpAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** POST /scheduler-tick with the secret as a bearer token (and an optional JSON body). */
export function postTick(gw: Gateway, secret: string, body?: Record<string, unknown>): Promise<HttpAnswer> {
  return request(`${gw.url}/scheduler-tick`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

/** A status callback signed as Twilio signs it (over the full URL and the sorted POST parameters). */
export async function postSignedCallback(
  gw: Gateway,
  authToken: string,
  query: string,
  params: Record<string, string>,
  opts: { signatureFor?: { query?: string; params?: Record<string, string>; token?: string }; signature?: string } = {},
): Promise<HttpAnswer> {
  const url = `${gw.url}/call-status${query}`;
  const signedUrl = `${gw.url}/call-status${opts.signatureFor?.query ?? query}`;
  const signature =
    opts.signature ??
    (await computeTwilioSignature(opts.signatureFor?.token ?? authToken, signedUrl, opts.signatureFor?.params ?? params));
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  });
}

/** True when a text looks like it carries a stack trace or source locations. */
export function looksLikeStackTrace(text: string): boolean {
  return /\n\s+at\s|\bat\s+\S+\s+\(|\.ts:\d+|\.js:\d+|file:\/\//.test(text);
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A connection string like testDbUrl() but aimed at a loopback port nothing listens on. */
export async function unreachableDbUrl(): Promise<string> {
  const u = new URL(testDbUrl());
  u.hostname = '127.0.0.1';
  u.port = String(await closedPort());
  return u.toString();
}
