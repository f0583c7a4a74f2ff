// The database under test, for the vitest suites: where it is, connections and pools, putting it
// back to empty between tests, and the few rows of settings and leases a test changes or reads.
// A vitest worker has the database to itself (scripts/test.ts gives each worker its own, see
// useWorkerDatabase; by hand, any DATABASE_URL with the migrations and the `tests` schema applied,
// one file at a time); each test starts from resetData().

import pg from 'pg';
import { databaseName, databaseUrl, WORKER_DATABASE_PREFIX_ENV, workerDatabase } from '../../scripts/stack/test-databases.ts';
import { closedPort } from './net.ts';

/** Anything that runs a query: a client, a pool, a pool's client. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

// ---------------------------------------------------------------------------------------------
// Where

/**
 * Under `npm test`, files run in parallel workers and each worker owns a database of the cluster
 * (scripts/stack/test-databases.ts): this points DATABASE_URL, TEST_DATABASE_URL and
 * POOLER_DATABASE_URL at worker VITEST_POOL_ID's database, so the test file and everything it
 * starts (the Deno functions, the CLIs, `npm start`) use it. Without TEST_WORKER_DATABASE_PREFIX
 * (vitest started by hand) it changes nothing. Called first by test/setup.ts.
 */
export function useWorkerDatabase(): boolean {
  const prefix = process.env[WORKER_DATABASE_PREFIX_ENV];
  if (!prefix) return false;
  const worker = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(worker) || worker < 1) {
    throw new Error(
      `${WORKER_DATABASE_PREFIX_ENV} is set but VITEST_POOL_ID is not a worker number (${process.env.VITEST_POOL_ID})`,
    );
  }
  const name = workerDatabase(prefix, worker);
  for (const key of ['DATABASE_URL', 'TEST_DATABASE_URL', 'POOLER_DATABASE_URL']) {
    const url = process.env[key];
    if (url) process.env[key] = databaseUrl(url, name);
  }
  return true;
}

/** The advisory lock (one key for every worker database: each has its own locks) a file holds. */
const WORKER_DATABASE_LOCK = 7_220_241;

/**
 * Waits until no other test process holds the worker's database, then holds it until this process
 * exits (a session advisory lock on a connection of its own, never closed: the server drops the
 * lock when the process's socket closes). vitest hands a worker's number (VITEST_POOL_ID, so its
 * database) to the next file as soon as the last one has finished, and only then stops that file's
 * process, without waiting for it: whatever the finished file left running (a dispatcher's loop,
 * an answer being recorded) would go on claiming and writing in the next file's database. When
 * the wait was not immediate, the process's log says what was still running there.
 */
export async function holdWorkerDatabase(): Promise<void> {
  // Once per process (with isolate: false one process runs several files, and holds it already).
  const held = globalThis as { heldWorkerDatabase?: string };
  if (held.heldWorkerDatabase === testDbUrl()) return;
  held.heldWorkerDatabase = testDbUrl();
  const client = await connect();
  const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [WORKER_DATABASE_LOCK]);
  if (!rows[0]!.ok) {
    const started = Date.now();
    const others = await client.query<{ application_name: string; state: string; query: string }>(
      `select application_name, state, left(query, 120) as query from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
    );
    await client.query('select pg_advisory_lock($1)', [WORKER_DATABASE_LOCK]);
    process.stderr.write(
      `test-worker-lock: waited ${Date.now() - started} ms for the last file's process to leave ` +
        `${databaseName(testDbUrl())}; its sessions then: ${JSON.stringify(others.rows)}\n`,
    );
  }
  // Never end()ed: the lock lasts as long as the process. The socket must not keep it alive.
  (client as unknown as { connection: { stream: { unref(): void } } }).connection.stream.unref();
}

/** The database under test: TEST_DATABASE_URL, else DATABASE_URL. */
export function testDbUrl(): string {
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'no test database: run `npm test` (starts a throwaway cluster), or set TEST_DATABASE_URL / DATABASE_URL ' +
        'to a database with the migrations applied (e.g. `npm run db -- start`, then DATABASE_URL=$(npm run -s db -- url))',
    );
  }
  return url;
}

/**
 * The database URL through PgBouncer in transaction mode (what Supabase's pooler on port 6543 is to
 * Edge Functions). `npm test` starts PgBouncer and sets POOLER_DATABASE_URL.
 */
export function poolerDbUrl(): string {
  const url = process.env.POOLER_DATABASE_URL;
  if (!url) {
    throw new Error('no pooler: run `npm test` (starts PgBouncer in transaction mode), or set POOLER_DATABASE_URL');
  }
  return url;
}

/** PgBouncer's admin console (SHOW POOLS, KILL, RECONNECT; simple queries only). */
export function pgbouncerAdminUrl(): string {
  const url = process.env.PGBOUNCER_ADMIN_URL;
  if (!url) throw new Error('no PgBouncer admin console: run `npm test`, or set PGBOUNCER_ADMIN_URL');
  return url;
}

/**
 * The URL the Edge Functions under test get as SUPABASE_DB_URL: the pooler's by default (as on
 * Supabase), the direct one with DB_DIRECT=1 or when no pooler runs (vitest started by hand).
 */
export function functionsDbUrl(): string {
  if (process.env.DB_DIRECT === '1' || !process.env.POOLER_DATABASE_URL) return testDbUrl();
  return process.env.POOLER_DATABASE_URL;
}

/** A connection string like testDbUrl() but aimed at a loopback port nothing listens on. */
export async function unreachableDbUrl(): Promise<string> {
  const u = new URL(testDbUrl());
  u.hostname = '127.0.0.1';
  u.port = String(await closedPort());
  return u.toString();
}

// ---------------------------------------------------------------------------------------------
// Connections

/** A connected client (its own backend); errors of an idle connection (server restart) are ignored. */
export async function connect(url = testDbUrl()): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'test-suite' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** n separate connections (each its own backend, so Promise.all over them really races). */
export function openClients(n: number): Promise<pg.Client[]> {
  return Promise.all(Array.from({ length: n }, () => connect()));
}

export async function closeClients(clients: Array<pg.Client | undefined>): Promise<void> {
  await Promise.all(clients.map((c) => c?.end().catch(() => undefined)));
}

/** Runs fn with a fresh connected client, always closed afterwards. */
export async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A pool of up to n connections to the test database (separate backends); end() it in afterAll. */
export function newPool(n = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: testDbUrl(), max: n, application_name: 'test-suite' });
  pool.on('error', () => undefined); // idle client errors (e.g. server restart) must not crash the run
  return pool;
}

// ---------------------------------------------------------------------------------------------
// State between tests

/**
 * Empties every table in schema public (identities restarted) but phone_prefix_zones and
 * us_area_code_states (the numbers' zones and states: reference data no test changes) and puts back what the migrations seed: the
 * scheduler settings row and the 'default' provider account. One setting
 * differs from the product's default: background_dispatch_ms = 0, so a tick ends when its own
 * part does (tests of continuous dispatch set it themselves).
 *
 * One round trip. A test leaves a few rows, and deleting them is two orders of magnitude cheaper
 * than TRUNCATE, which gives each table and index a new file (tens to hundreds of milliseconds per
 * reset, and a reset comes before most tests): so the tables are emptied with DELETE, with
 * session_replication_role = replica for the statement (no row triggers, no foreign-key checks,
 * as under TRUNCATE), and their sequences set back to their start. When a table has grown past
 * RESET_TRUNCATE_BYTES (the load test's 10,000 contacts and calls) or the role may not skip triggers (not a
 * superuser), it is TRUNCATE ... RESTART IDENTITY CASCADE as before.
 */
export async function resetData(client: Queryable): Promise<void> {
  // Work the last test left running (a callback the gateway is still applying, an answer being
  // recorded) may lock the same rows in another order: PostgreSQL then ends one side with a
  // deadlock, rolling it back whole. The reset is one statement, so it is simply made again.
  for (let attempt = 1;; attempt++) {
    try {
      await client.query(RESET_SQL);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== DEADLOCK_DETECTED || attempt >= 5) throw err;
    }
  }
}

/** SQLSTATE deadlock_detected. */
const DEADLOCK_DETECTED = '40P01';

/** Past this size (main fork) of any table resetData() truncates instead of deleting. */
export const RESET_TRUNCATE_BYTES = 1024 * 1024;

const RESET_SQL = `
  do $reset$
  declare
    v_tables regclass[];
    v_truncate boolean;
    v_role text := current_setting('session_replication_role');
    v_table regclass;
    v_seq record;
  begin
    select array_agg(c.oid::regclass order by c.oid),
           bool_or(pg_relation_size(c.oid) > ${RESET_TRUNCATE_BYTES})
              or not (select r.rolsuper from pg_roles r where r.rolname = current_user)
      into v_tables, v_truncate
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p')
       and c.relname not in ('phone_prefix_zones', 'us_area_code_states');
    if v_tables is not null and v_truncate then
      execute format('truncate table %s restart identity cascade',
                     (select string_agg(t::text, ', ') from unnest(v_tables) t));
    elsif v_tables is not null then
      perform set_config('session_replication_role', 'replica', true);
      foreach v_table in array v_tables loop
        execute format('delete from %s', v_table);
      end loop;
      -- What RESTART IDENTITY restarts: the sequences the tables own (serial and identity columns).
      for v_seq in
        select d.objid::regclass as seq, s.seqstart
          from pg_depend d join pg_sequence s on s.seqrelid = d.objid
         where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
           and d.deptype in ('a', 'i') and d.refobjid = any (v_tables)
      loop
        perform setval(v_seq.seq, v_seq.seqstart, false);
      end loop;
      perform set_config('session_replication_role', v_role, true);
    end if;
    if to_regclass('public.scheduler_settings') is not null then
      insert into public.scheduler_settings default values on conflict do nothing;
      update public.scheduler_settings set background_dispatch_ms = 0;
    end if;
    if to_regclass('public.provider_accounts') is not null then
      insert into public.provider_accounts (id) values ('default') on conflict do nothing;
    end if;
    if to_regclass('public.webhook_settings') is not null then
      insert into public.webhook_settings default values on conflict do nothing;
    end if;
  end
  $reset$`;

/** Deactivates every pg_cron job, so the every-minute tick cannot launch calls mid-test. */
export async function disableCronJobs(client: Queryable): Promise<void> {
  await client.query(`
    do $cron$
    begin
      if to_regclass('cron.job') is not null then
        update cron.job set active = false where active;
      end if;
    end
    $cron$`);
}

/** Updates the scheduler settings row (column -> value). */
export async function updateSettings(db: Queryable, patch: Record<string, string | number>): Promise<void> {
  const keys = Object.keys(patch);
  if (keys.length === 0) return;
  if (!keys.every((k) => /^[a-z_]+$/.test(k))) throw new Error(`bad settings key in ${keys.join(', ')}`);
  const sets = keys.map((k, i) => `${k} = $${i + 1}`).join(', ');
  await db.query(`update public.scheduler_settings set ${sets} where id`, Object.values(patch));
}

/**
 * Settings for tests where pacing must not matter: a fast rate, and the widest margin, so a call
 * sent up to 250 ms after its slot still goes out (rate_margin_ms / 2). On a loaded machine a batch
 * of calls whose slots are a millisecond apart falls behind by the dispatcher's own work per call.
 */
export const FAST_SETTINGS = { provider_calls_per_second: 1000, rate_margin_ms: 500 } as const;

/**
 * For tests that claim calls in SQL at a simulated clock, where the rate bucket is not the subject:
 * 10,000 calls per second, so one claim takes every due call.
 */
export const UNTHROTTLED = { provider_calls_per_second: 10000, rate_margin_ms: 0 } as const;

// ---------------------------------------------------------------------------------------------
// The dispatch lease

/** The 'dispatch' lease row (public.scheduler_leases), if any. */
export async function dispatchLease(
  client: Queryable,
): Promise<{ holder: string; token: string; expires_at: Date; released_at: Date | null; held: boolean } | undefined> {
  const { rows } = await client.query(
    `select holder, token::text as token, expires_at, released_at, (released_at is null and expires_at > now()) as held
       from public.scheduler_leases where name = 'dispatch'`,
  );
  return rows[0];
}

/** Waits until the 'dispatch' lease is free (released, or expired by the database's clock). */
export async function waitForDispatchLeaseExpiry(client: Queryable, timeoutMs = 40_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const lease = await dispatchLease(client);
    if (!lease?.held) return;
    if (Date.now() > until) throw new Error(`the dispatch lease of ${lease.holder} did not expire within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(10, lease.expires_at.getTime() - Date.now()))));
  }
}
