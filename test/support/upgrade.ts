// Databases for the upgrade tests, in the cluster of the database under test: an empty database
// shaped like a Supabase project (roles, `extensions`, pg_cron), copies of it, a given set of
// migrations pushed into one with the real Supabase CLI (from a temporary directory holding only
// those files, as scripts/stack/localdb.ts pushMigrations does for the repository's), and the
// schema as `pg_dump --schema-only` writes it, normalised for comparison.
//
// pg_cron can only be created in the cluster's cron.database_name, so an empty database with it
// cannot be made from template0: the empty one is a copy of the database under test (CREATE
// DATABASE ... TEMPLATE, which ends the other sessions on it first: between test files, none but
// PgBouncer's idle ones) with our schemas dropped and cron.job emptied.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrapSupabaseShape, pgInstall, pushMigrations, REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { databaseName, databaseUrl, snapshotDatabase } from '../../scripts/stack/test-databases.ts';
import { withPgClient } from '../../scripts/stack/processes.ts';
import { MIGRATIONS_DIR } from '../../scripts/release.ts';
import { testDbUrl } from './db.ts';

/** The fixture migration standing for the next release's change (applied after the current ones). */
export const NEXT_MIGRATION = path.join(REPO_ROOT, 'test', 'fixtures', 'upgrade', '29991231000000_fixture_next_release.sql');
/** The data the upgrade test writes at the released version. */
export const FILL_SQL = path.join(REPO_ROOT, 'test', 'fixtures', 'upgrade', 'fill.sql');

/** A database name for this runner: the database under test's name with a suffix. */
export function scratchName(suffix: string): string {
  return `${databaseName(testDbUrl())}_${suffix}`.slice(0, 63);
}

/**
 * An empty database `name` shaped like a Supabase project, with pg_cron (see above); returns its
 * URL. Re-created if it exists.
 */
export async function blankDatabase(name: string): Promise<string> {
  const url = await snapshotDatabase(testDbUrl(), name);
  await withPgClient(url, async (c) => {
    await c.query(`
      drop schema if exists tests cascade;
      drop schema if exists supabase_migrations cascade;
      drop schema public cascade;
      create schema public authorization pg_database_owner;
      grant usage on schema public to public;
      delete from cron.job;
    `);
  });
  await bootstrapSupabaseShape(url);
  return url;
}

/** A copy of the database at templateUrl (no session may be on it), named `name`; returns its URL. */
export async function copyDatabase(templateUrl: string, name: string): Promise<string> {
  await withPgClient(databaseUrl(templateUrl, 'template1'), async (c) => {
    await c.query(`drop database if exists "${name}" with (force)`);
    await c.query(`create database "${name}" template "${databaseName(templateUrl)}"`);
  });
  return databaseUrl(templateUrl, name);
}

export async function dropDatabases(names: string[]): Promise<void> {
  await withPgClient(databaseUrl(testDbUrl(), 'template1'), async (c) => {
    for (const name of names) await c.query(`drop database if exists "${name}" with (force)`);
  });
}

/**
 * Pushes exactly `files` (paths of migration files) into the database at url with the real
 * Supabase CLI (`supabase db push --include-all`), from a temporary project directory holding
 * only them and the repository's supabase/config.toml. Migrations already applied there are
 * skipped by the CLI, as on a deployed project.
 */
export async function pushMigrationFiles(url: string, files: string[]): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccs-upgrade-'));
  try {
    mkdirSync(path.join(dir, 'supabase', 'migrations'), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, 'supabase', 'config.toml'), path.join(dir, 'supabase', 'config.toml'));
    for (const f of files) copyFileSync(f, path.join(dir, 'supabase', 'migrations', path.basename(f)));
    await pushMigrations(url, { cwd: dir, log: () => undefined });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The paths of migrations by file name, from supabase/migrations. */
export function migrationPaths(files: string[]): string[] {
  return files.map((f) => path.join(MIGRATIONS_DIR, f));
}

/**
 * `pg_dump --schema-only` of schema public, without what says nothing about the schema: comment
 * lines of pg_dump's own, SET lines, blank lines, and the random key of its \restrict lines. Ownership and privileges are kept (they are part
 * of what a migration sets).
 */
export function schemaDump(url: string): string {
  const r = spawnSync(
    path.join(pgInstall().bindir, 'pg_dump'),
    ['--schema-only', '--schema=public', '--no-tablespaces', '--dbname', url],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`pg_dump failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((line) => !/^--/.test(line) && !/^SET /.test(line) && !/^SELECT pg_catalog\.set_config/.test(line))
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .filter((line) => line.trim() !== '')
    .join('\n');
}

/** The lines only one side has, as a unified-ish diff (`- fresh`, `+ upgraded`), empty when equal. */
export function schemaDiff(fresh: string, upgraded: string): string[] {
  const a = fresh.split('\n');
  const b = upgraded.split('\n');
  const out: string[] = [];
  // Longest common subsequence over lines: dumps are a few thousand lines, fine for a test.
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push(`+ ${b[j++]}`);
    } else {
      out.push(`- ${a[i++]}`);
    }
  }
  return out;
}

/** Rows per table of schema public, by table name. */
export async function rowCounts(url: string): Promise<Record<string, number>> {
  return await withPgClient(url, async (c) => {
    const { rows } = await c.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
    );
    const counts: Record<string, number> = {};
    for (const { name } of rows) {
      const r = await c.query<{ n: number }>(`select count(*)::int as n from public."${name}"`);
      counts[name] = r.rows[0]!.n;
    }
    return counts;
  });
}

/** The pg_cron jobs the migrations scheduled (name, schedule, command). */
export async function cronJobs(url: string): Promise<string[]> {
  return await withPgClient(url, async (c) => {
    const { rows } = await c.query<{ j: string }>(
      `select format('%s %s %s', jobname, schedule, command) as j from cron.job order by jobname`,
    );
    return rows.map((r) => r.j);
  });
}
