// Database helpers for the vitest suites. The suites share one database (prepared by
// scripts/test.ts, or any DATABASE_URL with the migrations applied) and run one file at a time;
// each test starts from resetData().

import pg from 'pg';

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

/** Runs fn with a fresh connected client, always closed afterwards. */
export async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDbUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A pool of up to n connections to the test database; end() it in afterAll. */
export function newPool(n = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: testDbUrl(), max: n });
  pool.on('error', () => {}); // idle client errors (e.g. server restart) must not crash the run
  return pool;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Empties every table in schema public (restart identity cascade) and puts back the default
 * scheduler settings row that the migrations seed.
 */
export async function resetData(client: Queryable): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p')
      order by 1`,
  );
  if (rows.length > 0) {
    await client.query(`truncate table ${rows.map((r) => r.name).join(', ')} restart identity cascade`);
  }
  await client.query(`
    do $reset$
    begin
      if to_regclass('public.scheduler_settings') is not null then
        insert into public.scheduler_settings default values on conflict do nothing;
      end if;
    end
    $reset$`);
}

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
