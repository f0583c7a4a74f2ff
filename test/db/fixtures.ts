// Fixtures and invariant checks shared by the database integration suites in test/db. Everything
// goes through the real SQL functions over real connections; nothing here imitates the database.

import pg from 'pg';
import { testDbUrl } from '../helpers/db.ts';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** The statuses that hold a slot of the caps (DESIGN.md: "Active"). */
export const ACTIVE = `('queued', 'dialing', 'unknown', 'ringing', 'in_progress')`;

/** The suites' clock: Wednesday 2 December 2026, 12:00 UTC, plus whole minutes. */
export const WEDNESDAY_NOON = new Date('2026-12-02T12:00:00Z');
export function minutesAfterNoon(minutes: number): Date {
  return new Date(WEDNESDAY_NOON.getTime() + minutes * 60_000);
}

/** n separate connections (each its own backend, so they really race). */
export async function openClients(n: number): Promise<pg.Client[]> {
  const clients = Array.from({ length: n }, () => new pg.Client({ connectionString: testDbUrl() }));
  await Promise.all(clients.map((c) => c.connect()));
  return clients;
}

export async function closeClients(clients: pg.Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
}

export interface CampaignSpec {
  name?: string;
  cap?: number;
  status?: 'QUEUED' | 'RUNNING' | 'PAUSED' | 'COMPLETED' | 'CANCELLED';
  callerId?: string | null;
  timeZone?: string;
  windowStart?: string;
  windowEnd?: string;
  windowDays?: number[];
  maxAttempts?: number;
  retryDelay?: string;
  retryBackoff?: number;
  priority?: number;
  providerSettings?: Record<string, unknown>;
}

/** What a well-formed campaign does when the call is answered (exactly one call action). */
export const TWIML_SETTINGS = { twiml: '<Response><Say>Hello from the test suite</Say></Response>' };

/** Creates a campaign; by default it may dial at any hour of any day. Returns its id. */
export async function createCampaign(db: Queryable, spec: CampaignSpec = {}): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `insert into public.campaigns (name, max_concurrent_calls, status, caller_id, time_zone, window_start,
                                   window_end, window_days, max_attempts, retry_delay, retry_backoff, priority,
                                   provider_settings)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     returning id`,
    [
      spec.name ?? 'campaign',
      spec.cap ?? 5,
      spec.status ?? 'QUEUED',
      spec.callerId === undefined ? '+15559990000' : spec.callerId,
      spec.timeZone ?? 'UTC',
      spec.windowStart ?? '00:00',
      spec.windowEnd ?? '24:00',
      spec.windowDays ?? [1, 2, 3, 4, 5, 6, 7],
      spec.maxAttempts ?? 3,
      spec.retryDelay ?? '1 minute',
      spec.retryBackoff ?? 1,
      spec.priority ?? 0,
      JSON.stringify(spec.providerSettings ?? TWIML_SETTINGS),
    ],
  );
  return Number(rows[0]!.id);
}

let phoneCounter = 0;
/** A fresh E.164 number, unique within the process. */
export function freshPhone(): string {
  phoneCounter += 1;
  return `+1555${String(phoneCounter).padStart(7, '0')}`;
}

/** Adds contacts (due since long ago) to a campaign; returns their ids in order. */
export async function addContacts(
  db: Queryable,
  campaignId: number,
  count: number,
  opts: { timeZone?: string | null } = {},
): Promise<number[]> {
  if (count === 0) return [];
  const phones = Array.from({ length: count }, freshPhone);
  const { rows } = await db.query<{ id: string }>(
    `insert into public.contacts (campaign_id, phone, time_zone, next_attempt_at)
     select $1, p, $3, timestamptz '2026-01-01 00:00:00+00' from unnest($2::text[]) with ordinality as u (p, n)
     order by n
     returning id`,
    [campaignId, phones, opts.timeZone ?? null],
  );
  return rows.map((r) => Number(r.id));
}

export interface LaunchRow {
  campaign_id: string | null;
  outcome: 'busy' | 'served' | 'outside_window' | 'set_up_problem' | 'completed';
  reserved: number;
  active_calls: number;
  max_concurrent_calls: number;
  campaign_status: string | null;
  problem: string | null;
}

export async function launchDueCalls(db: Queryable, now: Date, maxCampaigns: number | null = null): Promise<LaunchRow[]> {
  const { rows } = await db.query<LaunchRow>('select * from public.launch_due_calls($1, $2)', [now, maxCampaigns]);
  return rows;
}

export function isSkipped(rows: LaunchRow[]): boolean {
  return rows.length === 1 && rows[0]!.outcome === 'busy';
}

export function reservedIn(rows: LaunchRow[]): number {
  return rows.reduce((n, r) => n + (r.campaign_id === null ? 0 : r.reserved), 0);
}

export interface ClaimedCall {
  call_id: string;
  campaign_id: string;
  contact_id: string;
  release_reason: string | null;
}

export async function claimQueuedCalls(db: Queryable, limit: number, now: Date): Promise<ClaimedCall[]> {
  const { rows } = await db.query<ClaimedCall>(
    'select call_id::text, campaign_id::text, contact_id::text, release_reason from public.claim_queued_calls($1, null, $2)',
    [limit, now],
  );
  return rows;
}

/** A period during which a campaign was paused, or a number was on the do-not-call list. */
export interface Period {
  id: number | string;
  from: Date;
  until: Date | null;
}

/**
 * Invariants 1-3 of DESIGN.md, checked on the committed state. Returns one sentence per
 * violation (empty when all hold), so that a failure says what went wrong.
 *   pauses: campaigns (id) paused from..until: no call of theirs reserved or dialled meanwhile.
 *   listings: phone numbers (id) on the do-not-call list from `from`: never reserved or dialled since.
 */
export async function invariantViolations(
  db: Queryable,
  opts: { pauses?: Period[]; listings?: Period[] } = {},
): Promise<string[]> {
  const pauses = opts.pauses ?? [];
  const listings = opts.listings ?? [];
  // Invariants 1-3 on the state: the one SQL checker (supabase/tests/_fixtures/tests_schema.psql).
  const { rows: state } = await db.query<{ violation: string }>(
    `select format('%s (%s)', detail, invariant) as violation from tests.invariant_violations()`,
  );
  // Invariant 3 over time: what the test knows about pauses and listings.
  const { rows } = await db.query<{ violation: string }>(
    `with pauses as (
       select * from unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) as p (campaign_id, from_at, until_at)
     ),
     listings as (
       select * from unnest($4::text[], $5::timestamptz[]) as l (phone, from_at)
     )
     -- 3. nothing reserved or dialled for a paused campaign while it was paused
     select format('call %s of campaign %s was %s at %s, while the campaign was paused (%s .. %s)',
                   cl.id, cl.campaign_id,
                   case when cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at)
                        then 'reserved' else 'dialled' end,
                   case when cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at)
                        then cl.queued_at else cl.dialed_at end,
                   p.from_at, p.until_at) as violation
       from public.calls cl join pauses p on p.campaign_id = cl.campaign_id
      where (cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at))
         or (cl.dialed_at >= p.from_at and (p.until_at is null or cl.dialed_at < p.until_at))
     union all
     -- 3. nothing reserved or dialled for a listed number once listed
     select format('call %s to %s was reserved at %s / dialled at %s, after the number was listed at %s',
                   cl.id, cl.to_phone, cl.queued_at, cl.dialed_at, l.from_at)
       from public.calls cl join listings l on l.phone = cl.to_phone
      where cl.queued_at >= l.from_at or cl.dialed_at >= l.from_at
     order by 1`,
    [
      pauses.map((p) => p.id),
      pauses.map((p) => p.from),
      pauses.map((p) => p.until),
      listings.map((l) => String(l.id)),
      listings.map((l) => l.from),
    ],
  );
  return [...state, ...rows].map((r) => r.violation);
}

/** A small deterministic PRNG (mulberry32), so that a failing race can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
