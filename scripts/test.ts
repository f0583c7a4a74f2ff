// `npm test [-- <vitest args>]`: one throwaway PostgreSQL cluster (or DATABASE_URL), shaped like
// Supabase, migrations pushed by the real CLI, and PgBouncer in transaction mode in front of it;
// then `supabase db lint`, `deno fmt --check` / `deno lint` / `deno check`, the real `vercel build`,
// pgTAP (pg_prove over supabase/tests/**/*.test.sql) and vitest, all at once.
// The suites truncate tables, so no two runners share a database: the migrated database is copied
// into a template (scripts/stack/test-databases.ts), and each pgTAP job and each vitest worker gets
// its own copy of it in the one cluster (CREATE DATABASE ... TEMPLATE: a fraction of a second).
// Migrations, pgTAP and the test fixtures use the direct URL (DATABASE_URL / TEST_DATABASE_URL);
// the Edge Functions under test get the pooler's (POOLER_DATABASE_URL), as Supabase's transaction
// pooler serves them, unless DB_DIRECT=1. Ends with the line `N passed, N failed`.
//
// Options (the other arguments go to vitest):
//   --pgtap-only             only the pgTAP suite (no lint, no vercel build, no pooler, no vitest)
//   --clock-offset <+365d>   (or TEST_CLOCK_OFFSET) the throwaway cluster's server runs under
//                            libfaketime that far from the real clock; the start fails unless its
//                            now() shows the shift (scripts/stack/faketime.ts)
//   --workers <n>            (or TEST_WORKERS; default DEFAULT_WORKERS) vitest files run in n
//                            workers at once, each with its own database; pgTAP runs in
//                            PGTAP_JOBS jobs beside them. With DATABASE_URL set (one database,
//                            not ours to copy) everything runs in that database, one file at a time.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  bootstrapSupabaseShape,
  installTestExtensions,
  lintDatabase,
  type LocalDb,
  pushMigrations,
  REPO_ROOT,
  startLocalDb,
} from './stack/localdb.ts';
import { vercelBuild } from './stack/vercel-build.ts';
import { denoChecksInBackground } from './stack/deno-tools.ts';
import { type PgBouncer, startPgBouncer } from './stack/pgbouncer.ts';
import { installTestsSchema } from './tests-schema.ts';
import { ensurePrerequisites } from './stack/prereqs.ts';
import { type ClockOffset, faketimeEnv, parseClockOffset } from './stack/faketime.ts';
import { cloneDatabases, snapshotDatabase, WORKER_DATABASE_PREFIX_ENV, workerDatabase } from './stack/test-databases.ts';

interface Tally {
  passed: number;
  failed: number;
}

const log = (s: string) => process.stderr.write(`[test] ${s}\n`);

/**
 * vitest workers by default: one more than the cores (at most 4). Many files wait on loopback HTTP,
 * child processes and Chromium more than they compute: on 2 cores, 3 workers, each one process for
 * its files (vitest.config.ts), took `npm test` from 395 to 268-309 s (docs/TESTING.md).
 */
const DEFAULT_WORKERS = Math.max(1, Math.min(4, os.availableParallelism() + 1));
/** pg_prove jobs, each over its share of the files in its own database, beside vitest. */
const PGTAP_JOBS = 2;
/** The names of the copies of the migrated database. */
const TEMPLATE_DATABASE = 'ccs_test_template';
const PGTAP_DATABASE_PREFIX = 'ccs_test_pgtap_';
const VITEST_DATABASE_PREFIX = 'ccs_test_vitest_';

function findFiles(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findFiles(p, suffix));
    else if (entry.name.endsWith(suffix)) out.push(p);
  }
  return out.sort();
}

/** Runs a command; its output is shown as it comes (tee) or, held back, written whole at the end. */
function runCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { tee: boolean },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: [opts.tee ? 'inherit' : 'ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (opts.tee) process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
      if (opts.tee) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (!opts.tee) process.stdout.write(output);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

/** libpq environment for psql / pg_prove from a connection URL. */
function libpqEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: u.hostname.replace(/^\[|\]$/g, ''),
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username) || 'postgres',
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
    PSQLRC: '/dev/null',
  };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

function parsePgProve(output: string, code: number): Tally {
  const total = Number(/Files=\d+, Tests=(\d+)/.exec(output)?.[1] ?? 0);
  let failed = 0;
  // Summary report lines: "supabase/tests/x.test.sql (Wstat: 0 Tests: 5 Failed: 2)"; a file that
  // failed without a failing assertion (bad plan, SQL error, died) counts as one failure.
  for (const m of output.matchAll(/\(Wstat: \d+ Tests: \d+ Failed: (\d+)\)/g)) failed += Math.max(1, Number(m[1]));
  if (code !== 0 && failed === 0) failed = 1;
  return { passed: Math.max(0, total - failed), failed };
}

/** The pgTAP files, relative to the repository. */
function pgTapFiles(): string[] {
  return findFiles(path.join(REPO_ROOT, 'supabase', 'tests'), '.test.sql').map((f) => path.relative(REPO_ROOT, f));
}

/**
 * Splits files into n lists of about the same total size (largest first, each to the lightest
 * list so far), each list in the files' usual order.
 */
function splitBySize(files: string[], n: number): string[][] {
  const lists = Array.from({ length: Math.max(1, n) }, () => ({ bytes: 0, files: [] as string[] }));
  const sized = files.map((f) => ({ f, bytes: statSync(path.join(REPO_ROOT, f)).size }));
  for (const { f, bytes } of sized.sort((a, b) => b.bytes - a.bytes)) {
    const lightest = lists.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    lightest.files.push(f);
    lightest.bytes += bytes;
  }
  return lists.map((l) => l.files.sort()).filter((l) => l.length > 0);
}

/**
 * pg_prove over the pgTAP files: one job per database in urls, each over its share of the files
 * (run one after the other in that database, as before the jobs existed), output written whole
 * when a job ends.
 */
async function runPgTap(urls: string[]): Promise<Tally | undefined> {
  const files = pgTapFiles();
  if (files.length === 0) {
    log('pgTAP: no supabase/tests/**/*.test.sql files yet; skipping pg_prove');
    return undefined;
  }
  const jobs = splitBySize(files, urls.length);
  const where = jobs.length > 1 ? `${jobs.length} jobs, each in its own database` : 'one job';
  log(`pgTAP: pg_prove over ${files.length} file(s) in ${where}`);
  const tallies = await Promise.all(
    jobs.map(async (jobFiles, i) => {
      const r = await runCommand('pg_prove', ['--ext', '.sql', '--failures', ...jobFiles], libpqEnv(urls[i]!), {
        tee: urls.length === 1,
      });
      return parsePgProve(r.output, r.code);
    }),
  );
  const tally = sum(tallies);
  log(`pgTAP: ${tally.passed} passed, ${tally.failed} failed`);
  return tally;
}

function sum(tallies: Array<Tally | undefined>): Tally {
  const total: Tally = { passed: 0, failed: 0 };
  for (const t of tallies) {
    total.passed += t?.passed ?? 0;
    total.failed += t?.failed ?? 0;
  }
  return total;
}

/**
 * vitest over test/**\/*.test.ts. With workerPrefix, files run `workers` at a time, worker n in
 * database `<workerPrefix>n` (test/support/db.ts useWorkerDatabase points it there); without,
 * one file at a time in the database at url.
 */
async function runVitest(
  url: string,
  pooler: PgBouncer,
  extraArgs: string[],
  opts: { clockOffset?: ClockOffset; workers: number; workerPrefix?: string },
): Promise<Tally> {
  // Kept after the run (git-ignored): CI can archive it.
  const report = path.join(REPO_ROOT, 'test-results', 'vitest.json');
  await rm(report, { force: true });
  const hasTests = findFiles(path.join(REPO_ROOT, 'test'), '.test.ts').length > 0;
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'vitest');
  const [cmd, pre] = existsSync(local) ? [local, []] : ['npx', ['--no-install', 'vitest']];
  const args = [
    ...pre,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...(hasTests ? [] : ['--passWithNoTests']),
    ...(opts.workerPrefix ? ['--fileParallelism', `--maxWorkers=${opts.workers}`] : []),
    ...extraArgs,
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: url,
    TEST_DATABASE_URL: url,
    POOLER_DATABASE_URL: pooler.url,
    PGBOUNCER_ADMIN_URL: pooler.adminUrl,
  };
  if (opts.workerPrefix) env[WORKER_DATABASE_PREFIX_ENV] = opts.workerPrefix;
  else delete env[WORKER_DATABASE_PREFIX_ENV];
  // With a clock offset, vitest and what it starts (the Deno functions, the simulators) share the
  // database's shifted clock; test/e2e/browser.ts keeps Chromium off it.
  const clock = opts.clockOffset ? ` (clock ${opts.clockOffset.faketime})` : '';
  log(`vitest: ${['vitest', ...args.slice(pre.length)].join(' ')}${clock}`);
  const r = await runCommand(cmd, args, opts.clockOffset ? faketimeEnv(opts.clockOffset, env) : env, { tee: true });
  let tally: Tally = { passed: 0, failed: 0 };
  try {
    const json = JSON.parse(await readFile(report, 'utf8')) as {
      numPassedTests?: number;
      numFailedTests?: number;
      testResults?: { status?: string; assertionResults?: { status?: string }[] }[];
    };
    // A file that fails outside any test (import error, failing hook) has no failed test: count it.
    const brokenFiles = (json.testResults ?? []).filter(
      (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length;
    tally = { passed: json.numPassedTests ?? 0, failed: (json.numFailedTests ?? 0) + brokenFiles };
  } catch {
    // No report (vitest crashed before writing it): fall back to its summary line.
    const m = /Tests\s+(?:(\d+) failed)?[ |]*(?:(\d+) passed)?/.exec(
      r.output.replace(new RegExp(String.fromCharCode(27) + String.raw`\[[0-9;]*m`, 'g'), ''),
    );
    tally = { passed: Number(m?.[2] ?? 0), failed: Number(m?.[1] ?? 0) };
  }
  if (r.code !== 0 && tally.failed === 0) tally.failed = 1;
  log(`vitest: ${tally.passed} passed, ${tally.failed} failed`);
  return tally;
}

/** The suites truncate every table: never let a stray DATABASE_URL point them at a real project. */
function refuseRemoteDatabase(): void {
  const url = process.env.DATABASE_URL;
  if (!url || process.env.TEST_ALLOW_REMOTE_DB === '1') return;
  const host = new URL(url).hostname;
  if (!['localhost', '127.0.0.1', '::1', '[::1]'].includes(host)) {
    throw new Error(
      `DATABASE_URL points at ${host}; the tests truncate every table in schema public. ` +
        'Unset DATABASE_URL (a throwaway cluster is started) or set TEST_ALLOW_REMOTE_DB=1.',
    );
  }
}

interface Options {
  pgtapOnly: boolean;
  workers: number;
  clockOffset?: ClockOffset;
  vitestArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { pgtapOnly: false, workers: DEFAULT_WORKERS, vitestArgs: [] };
  let offset = process.env.TEST_CLOCK_OFFSET || undefined;
  let workers = process.env.TEST_WORKERS || String(DEFAULT_WORKERS);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--pgtap-only') opts.pgtapOnly = true;
    else if (a === '--clock-offset') {
      offset = argv[++i];
      if (!offset) throw new Error('--clock-offset needs a value, e.g. --clock-offset +365d');
    } else if (a.startsWith('--clock-offset=')) offset = a.slice('--clock-offset='.length);
    else if (a === '--workers') workers = argv[++i] ?? '';
    else if (a.startsWith('--workers=')) workers = a.slice('--workers='.length);
    else opts.vitestArgs.push(a);
  }
  if (opts.pgtapOnly && opts.vitestArgs.length) {
    throw new Error(`--pgtap-only runs no vitest: unexpected arguments ${opts.vitestArgs.join(' ')}`);
  }
  if (offset) opts.clockOffset = parseClockOffset(offset);
  if (!/^[1-8]$/.test(workers)) throw new Error(`--workers (TEST_WORKERS) must be 1 to 8, got '${workers}'`);
  opts.workers = Number(workers);
  return opts;
}

interface RunnerDatabases {
  /** One database per pg_prove job. */
  pgtap: string[];
  /** vitest's DATABASE_URL (worker 1's database when workerPrefix is set). */
  vitest: string;
  /** Worker n's database is `<workerPrefix>n`; undefined: every file in `vitest`, one at a time. */
  workerPrefix?: string;
}

/**
 * The databases the runners use, each with the `tests` schema: in our own cluster, copies of the
 * migrated database (which keeps no `tests` schema, for the lint); in a DATABASE_URL's database,
 * that database itself.
 */
async function runnerDatabases(db: LocalDb, workers: number): Promise<RunnerDatabases> {
  if (db.external) {
    await installTestsSchema(db.url);
    log('tests schema: installed (supabase/tests/_fixtures/tests_schema.psql)');
    return { pgtap: [db.url], vitest: db.url };
  }
  const t0 = Date.now();
  const template = await snapshotDatabase(db.url, TEMPLATE_DATABASE);
  await installTestsSchema(template);
  const pgtap = Array.from({ length: PGTAP_JOBS }, (_, i) => `${PGTAP_DATABASE_PREFIX}${i + 1}`);
  const vitest = Array.from({ length: workers }, (_, i) => workerDatabase(VITEST_DATABASE_PREFIX, i + 1));
  const urls = await cloneDatabases(template, [...pgtap, ...vitest]);
  log(
    `databases: ${TEMPLATE_DATABASE} (migrations and the tests schema) copied into ${pgtap.length} for pgTAP ` +
      `and ${vitest.length} for vitest in ${Date.now() - t0} ms`,
  );
  return { pgtap: urls.slice(0, pgtap.length), vitest: urls[pgtap.length]!, workerPrefix: VITEST_DATABASE_PREFIX };
}

/** `supabase db lint` over the migrated database: one failure when it finds anything. */
async function dbLint(url: string): Promise<Tally> {
  const lint = await lintDatabase(url);
  if (lint.ok) {
    log('db lint: no findings');
    return { passed: 0, failed: 0 };
  }
  process.stdout.write(`${lint.output}\n`);
  log('db lint: FAILED (supabase db lint --level warning found problems; counted as 1 failure)');
  return { passed: 0, failed: 1 };
}

/** A step that never throws: its error is shown and counted as one failure. */
function counted(name: string, step: Promise<Tally>): Promise<Tally> {
  return step.catch((err: unknown) => {
    log(`${name}: FAILED (counted as 1 failure)\n${err instanceof Error ? err.message : String(err)}`);
    return { passed: 0, failed: 1 };
  });
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const tallies: Tally[] = [];
  let db: LocalDb | undefined;
  let pooler: PgBouncer | undefined;
  let setupFailed = false;
  try {
    refuseRemoteDatabase();
    const opts = parseArgs(process.argv.slice(2));
    await ensurePrerequisites(opts.pgtapOnly ? 'pgtap' : 'test', { log, also: opts.clockOffset ? ['clock'] : [] });
    if (opts.pgtapOnly) return finish(t0, await pgTapOnly(opts.clockOffset));
    // The real `vercel build` (test/vercel runs its output), beside the database's start-up.
    const build = counted('vercel build', vercelBuild(log).then(() => ({ passed: 0, failed: 0 })));
    db = await startLocalDb({
      persistent: false,
      log: (s) => log(s),
      ...(opts.clockOffset ? { clockOffset: opts.clockOffset } : {}),
    });
    await bootstrapSupabaseShape(db.url);
    await installTestExtensions(db.url);
    await pushMigrations(db.url, { log });
    // DATABASE_URL's one database: the lint first, as it must not see the tests schema.
    const lintFirst = db.external ? await counted('db lint', dbLint(db.url)) : undefined;
    const dbs = await runnerDatabases(db, opts.workers);
    pooler = await startPgBouncer({ databaseUrl: db.url, ...(db.dir ? { dir: db.dir } : {}), log });
    log(
      process.env.DB_DIRECT === '1'
        ? 'functions: direct database URL (DB_DIRECT=1)'
        : 'functions: through PgBouncer (transaction mode)',
    );

    // Everything at once: the checks that read no test database (lint of the migrated database,
    // which no runner uses; the Deno tools), pgTAP in its jobs' databases, vitest in its workers'.
    const checks = (async () => {
      const lint = lintFirst ?? (await counted('db lint', dbLint(db!.url)));
      const deno = await counted('deno tools', denoChecksInBackground(log).then((failed) => ({ passed: 0, failed })));
      return sum([lint, deno]);
    })();
    const vitestOpts = {
      workers: dbs.workerPrefix ? opts.workers : 1,
      ...(dbs.workerPrefix ? { workerPrefix: dbs.workerPrefix } : {}),
      ...(opts.clockOffset ? { clockOffset: opts.clockOffset } : {}),
    };
    // vitest does not wait for the build: the files that serve its output wait for it themselves
    // (ensureVercelBuild holds a lock while npm test builds, then finds the output fresh).
    const startVitest = () => counted('vitest', runVitest(dbs.vitest, pooler!, opts.vitestArgs, vitestOpts));
    const pgtap = counted('pgTAP', runPgTap(dbs.pgtap).then((t) => t ?? { passed: 0, failed: 0 }));
    // In DATABASE_URL's one database the suites take turns.
    const vitest = dbs.workerPrefix ? startVitest() : pgtap.then(startVitest);
    tallies.push(...(await Promise.all([build, checks, pgtap, vitest])));
  } catch (err) {
    setupFailed = true;
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    await pooler?.stop().catch((err: unknown) => log(`stopping PgBouncer failed: ${String(err)}`));
    await db?.stop().catch((err: unknown) => log(`stopping the cluster failed: ${String(err)}`));
  }
  const total = sum(tallies);
  if (setupFailed && total.failed === 0) total.failed = 1;
  return finish(t0, total);
}

function finish(t0: number, total: Tally): number {
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.stdout.write(`${total.passed} passed, ${total.failed} failed\n`);
  return total.failed > 0 ? 1 : 0;
}

/** --pgtap-only: a cluster, the migrations, the tests schema and pg_prove; nothing else. */
async function pgTapOnly(clockOffset: ClockOffset | undefined): Promise<Tally> {
  let db: LocalDb | undefined;
  try {
    db = await startLocalDb({ persistent: false, log: (s) => log(s), ...(clockOffset ? { clockOffset } : {}) });
    await bootstrapSupabaseShape(db.url);
    await installTestExtensions(db.url);
    await pushMigrations(db.url, { log });
    const dbs = await runnerDatabases(db, 0);
    return (await runPgTap(dbs.pgtap)) ?? { passed: 0, failed: 1 };
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    return { passed: 0, failed: 1 };
  } finally {
    await db?.stop().catch((err: unknown) => log(`stopping the cluster failed: ${String(err)}`));
  }
}

process.exitCode = await main();
