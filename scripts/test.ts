// `npm test [-- <vitest args>]`: one throwaway PostgreSQL cluster (or DATABASE_URL), shaped like
// Supabase, migrations pushed by the real CLI, and PgBouncer in transaction mode in front of it;
// then `supabase db lint`, `deno fmt --check` / `deno lint` / `deno check`, pgTAP (pg_prove over supabase/tests/**/*.test.sql) and vitest against it.
// Migrations, pgTAP and the test fixtures use the direct URL (DATABASE_URL / TEST_DATABASE_URL);
// the Edge Functions under test get the pooler's (POOLER_DATABASE_URL), as Supabase's transaction
// pooler serves them, unless DB_DIRECT=1. Ends with the line `N passed, N failed`.
//
// Options (the other arguments go to vitest):
//   --pgtap-only             only the pgTAP suite (no lint, no vercel build, no pooler, no vitest)
//   --clock-offset <+365d>   (or TEST_CLOCK_OFFSET) the throwaway cluster's server runs under
//                            libfaketime that far from the real clock; the start fails unless its
//                            now() shows the shift (scripts/stack/faketime.ts)
//   --shards <n>             (or TEST_SHARDS; default 1) vitest's files split into n shards run at
//                            once, each against its own cluster and PgBouncer (the suites truncate
//                            tables, so two shards never share a database); one JSON report each

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
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
import { denoCheck, denoFmt, denoLint } from './stack/deno-tools.ts';
import { type PgBouncer, startPgBouncer } from './stack/pgbouncer.ts';
import { installTestsSchema } from './tests-schema.ts';
import { ensurePrerequisites } from './stack/prereqs.ts';
import { type ClockOffset, faketimeEnv, parseClockOffset } from './stack/faketime.ts';

interface Tally {
  passed: number;
  failed: number;
}

const log = (s: string) => process.stderr.write(`[test] ${s}\n`);

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

/** Runs a command with inherited stdin, output both shown and captured. */
function runTee(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['inherit', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
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

async function runPgTap(url: string): Promise<Tally | undefined> {
  const files = findFiles(path.join(REPO_ROOT, 'supabase', 'tests'), '.test.sql').map((f) => path.relative(REPO_ROOT, f));
  if (files.length === 0) {
    log('pgTAP: no supabase/tests/**/*.test.sql files yet; skipping pg_prove');
    return undefined;
  }
  log(`pgTAP: pg_prove over ${files.length} file(s)`);
  const r = await runTee('pg_prove', ['--ext', '.sql', '--failures', ...files], libpqEnv(url));
  const tally = parsePgProve(r.output, r.code);
  log(`pgTAP: ${tally.passed} passed, ${tally.failed} failed`);
  return tally;
}

interface Shard {
  /** 1-based; with `of` the number of shards (vitest --shard=index/of). */
  index: number;
  of: number;
}

async function runVitest(
  url: string,
  pooler: PgBouncer,
  extraArgs: string[],
  clockOffset?: ClockOffset,
  shard?: Shard,
): Promise<Tally> {
  // Kept after the run (git-ignored): CI can archive it.
  const report = path.join(REPO_ROOT, 'test-results', shard ? `vitest-${shard.index}-of-${shard.of}.json` : 'vitest.json');
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
    ...(shard ? [`--shard=${shard.index}/${shard.of}`, '--passWithNoTests'] : []),
    ...extraArgs,
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: url,
    TEST_DATABASE_URL: url,
    POOLER_DATABASE_URL: pooler.url,
    PGBOUNCER_ADMIN_URL: pooler.adminUrl,
  };
  // With a clock offset, vitest and what it starts (the Deno functions, the simulators) share the
  // database's shifted clock; test/e2e/browser.ts keeps Chromium off it.
  const name = shard ? `vitest ${shard.index}/${shard.of}` : 'vitest';
  log(`${name}: ${['vitest', ...args.slice(pre.length)].join(' ')}${clockOffset ? ` (clock ${clockOffset.faketime})` : ''}`);
  const r = await runTee(cmd, args, clockOffset ? faketimeEnv(clockOffset, env) : env);
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
  log(`${name}: ${tally.passed} passed, ${tally.failed} failed`);
  return tally;
}

/** Another cluster for a vitest shard: shaped, migrated, with the tests schema and its own PgBouncer. */
async function startShardDatabase(
  clockOffset: ClockOffset | undefined,
  index: number,
): Promise<{ db: LocalDb; pooler: PgBouncer }> {
  const shardLog = (s: string) => log(`shard ${index}: ${s}`);
  const db = await startLocalDb({ persistent: false, log: shardLog, ...(clockOffset ? { clockOffset } : {}) });
  try {
    await bootstrapSupabaseShape(db.url);
    await installTestExtensions(db.url);
    await pushMigrations(db.url, { log: shardLog });
    await installTestsSchema(db.url);
    const pooler = await startPgBouncer({ databaseUrl: db.url, ...(db.dir ? { dir: db.dir } : {}), log: shardLog });
    return { db, pooler };
  } catch (err) {
    await db.stop().catch(() => undefined);
    throw err;
  }
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
  shards: number;
  clockOffset?: ClockOffset;
  vitestArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { pgtapOnly: false, shards: 1, vitestArgs: [] };
  let offset = process.env.TEST_CLOCK_OFFSET || undefined;
  let shards = process.env.TEST_SHARDS || '1';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--pgtap-only') opts.pgtapOnly = true;
    else if (a === '--clock-offset') {
      offset = argv[++i];
      if (!offset) throw new Error('--clock-offset needs a value, e.g. --clock-offset +365d');
    } else if (a.startsWith('--clock-offset=')) offset = a.slice('--clock-offset='.length);
    else if (a === '--shards') shards = argv[++i] ?? '';
    else if (a.startsWith('--shards=')) shards = a.slice('--shards='.length);
    else opts.vitestArgs.push(a);
  }
  if (opts.pgtapOnly && opts.vitestArgs.length) {
    throw new Error(`--pgtap-only runs no vitest: unexpected arguments ${opts.vitestArgs.join(' ')}`);
  }
  if (offset) opts.clockOffset = parseClockOffset(offset);
  if (!/^[1-8]$/.test(shards)) throw new Error(`--shards (TEST_SHARDS) must be 1 to 8, got '${shards}'`);
  opts.shards = Number(shards);
  return opts;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const total: Tally = { passed: 0, failed: 0 };
  let db: LocalDb | undefined;
  let pooler: PgBouncer | undefined;
  const shardStacks: Array<Promise<{ db: LocalDb; pooler: PgBouncer }>> = [];
  let setupFailed = false;
  try {
    refuseRemoteDatabase();
    const opts = parseArgs(process.argv.slice(2));
    await ensurePrerequisites(opts.pgtapOnly ? 'pgtap' : 'test', { log, also: opts.clockOffset ? ['clock'] : [] });
    if (opts.pgtapOnly) {
      const tap = await pgTapOnly(opts.clockOffset);
      total.passed += tap.passed;
      total.failed += tap.failed;
      return finish(t0, total);
    }
    // The real `vercel build` (test/vercel runs its output), beside the database's start-up.
    const build = vercelBuild(log).then(
      () => true,
      (err: unknown) => {
        log(`vercel build: FAILED (counted as 1 failure)\n${err instanceof Error ? err.message : String(err)}`);
        return false;
      },
    );
    db = await startLocalDb({
      persistent: false,
      log: (s) => log(s),
      ...(opts.clockOffset ? { clockOffset: opts.clockOffset } : {}),
    });
    await bootstrapSupabaseShape(db.url);
    await installTestExtensions(db.url);
    await pushMigrations(db.url, { log });
    pooler = await startPgBouncer({ databaseUrl: db.url, ...(db.dir ? { dir: db.dir } : {}), log });
    log(
      process.env.DB_DIRECT === '1'
        ? 'functions: direct database URL (DB_DIRECT=1)'
        : 'functions: through PgBouncer (transaction mode)',
    );

    // The other shards' databases start while the first one is linted and runs pgTAP.
    for (let i = 2; i <= opts.shards; i++) shardStacks.push(startShardDatabase(opts.clockOffset, i));
    for (const p of shardStacks) p.catch(() => undefined); // awaited below; never an unhandled rejection

    const lint = await lintDatabase(db.url);
    if (lint.ok) {
      log('db lint: no findings');
    } else {
      process.stdout.write(`${lint.output}\n`);
      log('db lint: FAILED (supabase db lint --level warning found problems; counted as 1 failure)');
      total.failed += 1;
    }

    // The TypeScript side: formatter, linter and the functions' Deno type check, zero findings.
    for (const ok of [denoFmt(log), denoLint(log), denoCheck(log)]) if (!ok) total.failed += 1;

    // The SQL fixtures every suite shares (schema tests), after the lint: not part of the product.
    await installTestsSchema(db.url);
    log('tests schema: installed (supabase/tests/_fixtures/tests_schema.psql)');

    const tap = await runPgTap(db.url);
    if (tap) {
      total.passed += tap.passed;
      total.failed += tap.failed;
    }

    if (!(await build)) total.failed += 1;
    if (opts.shards === 1) {
      const vt = await runVitest(db.url, pooler, opts.vitestArgs, opts.clockOffset);
      total.passed += vt.passed;
      total.failed += vt.failed;
    } else {
      const stacks = [{ db, pooler }, ...(await Promise.all(shardStacks))];
      const tallies = await Promise.all(
        stacks.map((st, i) =>
          runVitest(st.db.url, st.pooler, opts.vitestArgs, opts.clockOffset, { index: i + 1, of: opts.shards })
        ),
      );
      for (const vt of tallies) {
        total.passed += vt.passed;
        total.failed += vt.failed;
      }
    }
  } catch (err) {
    setupFailed = true;
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    for (const st of await Promise.allSettled(shardStacks)) {
      if (st.status !== 'fulfilled') continue;
      await st.value.pooler.stop().catch((err: unknown) => log(`stopping PgBouncer failed: ${String(err)}`));
      await st.value.db.stop().catch((err: unknown) => log(`stopping the cluster failed: ${String(err)}`));
    }
    await pooler?.stop().catch((err: unknown) => log(`stopping PgBouncer failed: ${String(err)}`));
    await db?.stop().catch((err: unknown) => log(`stopping the cluster failed: ${String(err)}`));
  }
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
    await installTestsSchema(db.url);
    log('tests schema: installed (supabase/tests/_fixtures/tests_schema.psql)');
    return (await runPgTap(db.url)) ?? { passed: 0, failed: 1 };
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    return { passed: 0, failed: 1 };
  } finally {
    await db?.stop().catch((err: unknown) => log(`stopping the cluster failed: ${String(err)}`));
  }
}

process.exitCode = await main();
