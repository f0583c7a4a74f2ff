// Reading the database back: the scheduler's SQL entry points as the suites call them, and typed
// rows of runs, calls, contacts and the breaker. Ids are text (as pg returns bigint).

import type { RunCountColumns } from '../../supabase/functions/_shared/status.ts';
import type { Queryable } from './db.ts';

/** The statuses that hold a slot of the caps (docs/ARCHITECTURE.md, invariant 1), as an SQL list for `status in ${ACTIVE}`. */
export const ACTIVE = `('queued', 'dialing', 'unknown', 'ringing', 'in_progress')`;

// ---------------------------------------------------------------------------------------------
// Reservation and claim

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

/** The one 'busy' row of a launch that met another holding the lock. */
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

// ---------------------------------------------------------------------------------------------
// Rows

export interface RunRow extends RunCountColumns {
  id: string;
  trigger: string;
  scheduled_for: Date | null;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
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

/** Active calls (holding a slot), of one campaign or of all (tests.active_calls()). */
export async function activeCalls(db: Queryable, campaignId?: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select tests.active_calls($1) as n', [campaignId ?? null]);
  return rows[0]!.n;
}

export async function countWhere(db: Queryable, table: string, where: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where ${where}`, params);
  return rows[0]!.n;
}

/** The circuit breaker of a provider account ('default' unless said). */
export async function breakerRow(
  db: Queryable,
  account = 'default',
): Promise<{ state: string; consecutive_failures: number; open_until: Date | null } | undefined> {
  const { rows } = await db.query(
    'select state, consecutive_failures, open_until from public.provider_circuit_breakers where account = $1',
    [account],
  );
  return rows[0];
}

/** Every table in public, rows in a stable order, as one JSON string per table (for "nothing changed"). */
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
