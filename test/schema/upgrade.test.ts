// An upgrade as a deployed project takes it (docs/DEPLOY.md, "Upgrading"), in databases of its own
// in the cluster of the database under test (test/support/upgrade.ts):
//   1. the last release's migrations, exactly the files its manifest names (supabase/releases/),
//      pushed with the real Supabase CLI into an empty Supabase-shaped database;
//   2. data written through the scheduler's functions at the released version (an outcome webhook
//      endpoint and its events, a do-not-call entry, campaigns and contacts, calls in every state,
//      a scheduler run still open: test/fixtures/upgrade/fill.sql);
//   3. every current migration pushed, plus a fixture migration standing for the next release's
//      change (test/fixtures/upgrade/), as `supabase db push` does on the deployed project;
// then the schema equals a fresh install's (the current migrations and the fixture pushed into an
// empty database), compared as `pg_dump --schema-only` writes it, the diff printed when not; the
// pg_cron jobs are the same; every table holds the rows it held; and every invariant checker
// passes on the upgraded data.
//
// The clock: the data is written at tests.wednesday_noon() (fill.sql); nothing here reads the time.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { currentMigrations, readReleases } from '../../scripts/release.ts';
import { pgInstall } from '../../scripts/stack/localdb.ts';
import { installTestsSchema } from '../../scripts/tests-schema.ts';
import { invariantViolations } from '../support/invariants.ts';
import {
  blankDatabase,
  copyDatabase,
  cronJobs,
  dropDatabases,
  FILL_SQL,
  migrationPaths,
  NEXT_MIGRATION,
  pushMigrationFiles,
  rowCounts,
  schemaDiff,
  schemaDump,
  scratchName,
} from '../support/upgrade.ts';

const names = { blank: scratchName('upg_blank'), upgraded: scratchName('upg_old'), fresh: scratchName('upg_new') };

afterAll(async () => {
  await dropDatabases(Object.values(names));
});

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'upgrade-test' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Runs fill.sql with psql (it sets variables with \gset), stopping at the first error. */
function runFill(url: string): void {
  const r = spawnSync(path.join(pgInstall().bindir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', FILL_SQL, url], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`psql -f ${FILL_SQL} failed (exit ${r.status}):\n${r.stderr}`);
}

describe('upgrading from the last release', () => {
  it('prints what differs between two schemas, line by line', () => {
    expect(schemaDiff('a\nb\nc', 'a\nb\nc')).toEqual([]);
    expect(schemaDiff('create table t (\n  a int,\n  b int\n);', 'create table t (\n  a int,\n  c text\n);'))
      .toEqual(['+   c text', '-   b int']);
  });

  it('ends with the schema of a fresh install and the data it had', { timeout: 300_000 }, async () => {
    const releases = readReleases();
    expect(releases.length).toBeGreaterThan(0);
    const last = releases.at(-1)!;
    const current = currentMigrations().map((m) => m.file);
    // The fixture sorts after every migration, as a new migration must.
    expect(current.every((f) => f < '29991231000000')).toBe(true);

    const blank = await blankDatabase(names.blank);
    const upgraded = await copyDatabase(blank, names.upgraded);
    const fresh = await copyDatabase(blank, names.fresh);
    await dropDatabases([names.blank]);

    // 1. The release, exactly its files.
    await pushMigrationFiles(upgraded, migrationPaths(last.migrations.map((m) => m.file)));
    const applied = await withClient(
      upgraded,
      async (c) =>
        (await c.query<{ v: string }>('select version as v from supabase_migrations.schema_migrations order by 1')).rows.map((
          r,
        ) => r.v),
    );
    expect(applied).toEqual(last.migrations.map((m) => m.file.slice(0, 14)));

    // 2. Data at the released version.
    await installTestsSchema(upgraded);
    runFill(upgraded);
    await withClient(upgraded, async (c) => {
      const { rows } = await c.query<{ status: string }>('select distinct status::text as status from public.calls order by 1');
      expect(rows.map((r) => r.status)).toEqual(
        ['busy', 'canceled', 'completed', 'dialing', 'failed', 'in_progress', 'no_answer', 'queued', 'ringing', 'unknown'],
      );
      expect(await invariantViolations(c, { allowRunning: true })).toEqual([]);
    });
    const before = await rowCounts(upgraded);
    expect(before).toMatchObject({ webhook_endpoints: 1, do_not_call_numbers: 1, campaigns: 2 });
    expect(before.webhook_events).toBeGreaterThan(0);
    expect(before.scheduler_runs).toBe(1);

    // 3. The upgrade: every current migration, then the next release's change.
    const next = [...migrationPaths(current), NEXT_MIGRATION];
    await pushMigrationFiles(upgraded, next);
    await pushMigrationFiles(fresh, next);

    const freshDump = schemaDump(fresh);
    const diff = schemaDiff(freshDump, schemaDump(upgraded));
    if (diff.length > 0) {
      console.error(`schema of the upgraded database (+) against a fresh install (-):\n${diff.join('\n')}`);
    }
    expect(diff, 'the upgraded schema differs from a fresh install (diff printed above)').toEqual([]);
    expect(await cronJobs(upgraded)).toEqual(await cronJobs(fresh));

    expect(await rowCounts(upgraded)).toEqual(before);
    const dumpLines = freshDump.split('\n').length;
    const rows = Object.values(before).reduce((a, b) => a + b, 0);
    console.log(
      `[upgrade] ${last.version} (${last.migrations.length} migrations) -> ${current.length} current + 1 fixture: ` +
        `schema dumps equal (${dumpLines} lines), ${
          Object.keys(before).length
        } tables with ${rows} rows unchanged, invariants hold`,
    );
    await withClient(upgraded, async (c) => {
      expect(await invariantViolations(c, { allowRunning: true })).toEqual([]);
      // The fixture's column reached the rows that were there, with its default.
      const { rows } = await c.query<{ n: number; total: number }>(
        `select count(*) filter (where answered_region = 'unknown')::int as n, count(*)::int as total from public.calls`,
      );
      expect(rows[0]!.n).toBe(rows[0]!.total);
      // The run left open stays open (housekeeping finishes it later, as it would have).
      const open = await c.query('select 1 from public.scheduler_runs where finished_at is null');
      expect(open.rowCount).toBe(1);
    });
  });
});
