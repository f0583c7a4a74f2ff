// The no-Docker database: a local PostgreSQL cluster (throwaway or persistent) from the machine's
// PostgreSQL binaries with pg_cron preloaded, shaped like a Supabase project, with migrations
// applied by the real Supabase CLI. Used by `npm start`, `npm test`, `npm run bench`, `npm run lint`
// and CI alike. If DATABASE_URL is set, that database is used instead and nothing is started.

import { type SpawnOptions, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClockOffset, faketimeEnv, verifyServerClock } from './faketime.ts';
import { ensurePrerequisites, pgInstall } from './prereqs.ts';
import { canQuery, freePort, onExit, portIsFree, runCaptured, withPgClient } from './processes.ts';

export interface LocalDb {
  /** postgresql:// URL for clients (user postgres, trust auth locally). */
  url: string;
  port: number;
  /** Cluster directory (data in `dir/data`, server log in `dir/postgres.log`); '' when external. */
  dir: string;
  /** Stops the cluster if this call started it; deletes throwaway clusters. No-op when external. */
  stop(): Promise<void>;
  /** True when DATABASE_URL was used. */
  external: boolean;
}

export interface StartLocalDbOptions {
  /** Cluster directory. Default: `.local/pg` (persistent) or a fresh mkdtemp dir (throwaway). */
  dir?: string;
  persistent: boolean;
  /** Port to listen on. Default: the persistent cluster's last port if free, else one the OS picks. */
  port?: number;
  /** Extra postgresql.conf lines (`name = value`), written after the defaults so they win. */
  settings?: string[];
  /**
   * Throwaway clusters only: the server runs under libfaketime this far from the real clock
   * (scripts/stack/faketime.ts); checked once it accepts connections, and the start fails if not.
   */
  clockOffset?: ClockOffset;
  log?: (s: string) => void;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PERSISTENT_DIR = path.join(REPO_ROOT, '.local', 'pg');

/**
 * Where the persistent cluster lives: `.local/pg`, unless we run as root in a checkout the
 * postgres OS user cannot reach (e.g. under a 0700 mktemp dir); then a directory in /var/tmp
 * named after the checkout, so every command of this checkout finds the same cluster.
 */
export function persistentDir(): string {
  const id = serverIdentity();
  if (!id || serverCanReach(REPO_ROOT, id)) return PERSISTENT_DIR;
  const hash = createHash('sha1').update(REPO_ROOT).digest('hex').slice(0, 12);
  return path.join('/var/tmp', `ccs-pg-${hash}`);
}

const defaultLog = (s: string) => process.stderr.write(`[localdb] ${s}\n`);

// ---------------------------------------------------------------------------------------------
// PostgreSQL installation (located, and its packages installed, by prereqs.ts)

export { pgInstall };

function bin(name: string): string {
  return path.join(pgInstall().bindir, name);
}

// ---------------------------------------------------------------------------------------------
// Running things as the unprivileged postgres user

interface Identity {
  uid: number;
  gid: number;
}

/** When root, PostgreSQL must run as an unprivileged user: the `postgres` OS user (or $PG_OS_USER). */
export function serverIdentity(): Identity | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const user = process.env.PG_OS_USER ?? 'postgres';
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root, but there is no '${user}' OS user to run PostgreSQL as (set PG_OS_USER)`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', HOME: os.tmpdir() };
  for (const k of Object.keys(env)) if (k.startsWith('PG')) delete env[k];
  return env;
}

interface RunResult {
  code: number;
  output: string;
}

function run(cmd: string, args: string[], opts: SpawnOptions & { asServer?: boolean } = {}): Promise<RunResult> {
  const { asServer, ...spawnOpts } = opts;
  const id = asServer ? serverIdentity() : undefined;
  return runCaptured(cmd, args, { ...spawnOpts, ...(id ?? {}), env: opts.env ?? (asServer ? serverEnv() : process.env) });
}

async function chownTree(p: string, id: Identity | undefined): Promise<void> {
  if (!id) return;
  const r = spawnSync('chown', ['-R', `${id.uid}:${id.gid}`, p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chown -R ${p} failed: ${r.stderr}`);
}

/** Checks that the server user can reach (search) a directory: every parent needs +x for it. */
function serverCanReach(dir: string, id: Identity | undefined): boolean {
  if (!id) return true;
  return spawnSync('test', ['-x', dir], { uid: id.uid, gid: id.gid }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// Ports, URLs

function localUrl(port: number): string {
  return `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
}

function isLocalHost(host: string): boolean {
  return ['localhost', '127.0.0.1', '::1', '[::1]', ''].includes(host);
}

/**
 * The URL to hand to the Supabase CLI: it tries TLS by default, which a local cluster does not
 * offer, so local URLs get `sslmode=disable` (remote URLs are left alone).
 */
export function cliDbUrl(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('sslmode') && isLocalHost(u.hostname)) u.searchParams.set('sslmode', 'disable');
  return u.toString();
}

// ---------------------------------------------------------------------------------------------
// The cluster

function pgCronVersion(): string {
  const control = path.join(pgInstall().sharedir, 'extension', 'pg_cron.control');
  return /default_version\s*=\s*'([^']+)'/.exec(readFileSync(control, 'utf8'))?.[1] ?? '0';
}

function versionAtLeast(v: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = v.split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
}

function clusterConf(dataDir: string, port: number, persistent: boolean, extra: string[] = []): string {
  // Unix socket paths are limited to ~107 bytes; skip the socket if the data dir is too deep.
  const socketDir = dataDir.length + '/.s.PGSQL.65535'.length < 100 ? dataDir : '';
  const lines = [
    '# Written by scripts/stack/localdb.ts on every start; edit that file, not this one.',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${socketDir}'`,
    "shared_preload_libraries = 'pg_cron'",
    "cron.database_name = 'postgres'",
    // pg_cron's own connections: TCP to our only listen address (trust auth).
    "cron.host = '127.0.0.1'",
    // pg_cron < 1.5 has no cron.timezone (schedules are always UTC there); set it where supported.
    ...(versionAtLeast(pgCronVersion(), 1, 5) ? ["cron.timezone = 'UTC'"] : []),
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    'max_connections = 200',
    "shared_buffers = '128MB'",
    "work_mem = '8MB'",
    "maintenance_work_mem = '64MB'",
    "max_wal_size = '1GB'",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    'log_min_messages = warning',
  ];
  if (!persistent) {
    // Throwaway test/bench clusters: durability is worthless, speed is not.
    lines.push('fsync = off', 'synchronous_commit = off', 'full_page_writes = off');
  }
  lines.push(...extra);
  return lines.join('\n') + '\n';
}

function isPostmasterOf(pid: number, dataDir: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive but not ours to signal (non-root user, other owner); treat as alive.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!/postgres|postmaster/.test(cmdline)) return false;
  } catch {
    return false;
  }
  try {
    // A postmaster's working directory is its data directory (PIDs get reused in containers).
    return realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(dataDir);
  } catch {
    return true; // cannot tell (not ours to inspect): assume it is
  }
}

/** Reads postmaster.pid: returns {pid, port} of a live postmaster of this data dir, or undefined. */
function runningPostmaster(dataDir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !isPostmasterOf(pid, dataDir)) return undefined;
  return { pid, port };
}

async function waitForConnect(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canQuery(url)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function logTail(logFile: string, lines = 40): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

async function initCluster(dir: string, dataDir: string, log: (s: string) => void): Promise<void> {
  const id = serverIdentity();
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chownTree(dir, id);
  const hasCUtf8 = /^c\.utf-?8$/im.test(spawnSync('locale', ['-a'], { encoding: 'utf8' }).stdout ?? '');
  log(`initdb ${dataDir}`);
  const r = await run(
    bin('initdb'),
    [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      `--locale=${hasCUtf8 ? 'C.UTF-8' : 'C'}`,
      '--no-instructions',
    ],
    { asServer: true },
  );
  if (r.code !== 0) throw new Error(`initdb failed:\n${r.output}`);
  const conf = path.join(dataDir, 'postgresql.conf');
  await writeFile(conf, (await readFile(conf, 'utf8')) + "\ninclude_if_exists = 'localdb.conf'\n");
}

/** Stops a cluster by data dir (pg_ctl stop -m fast). Returns false if it was not running. */
export async function stopCluster(dataDir: string): Promise<boolean> {
  if (!existsSync(path.join(dataDir, 'postmaster.pid'))) return false;
  const r = await run(bin('pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], { asServer: true });
  return r.code === 0;
}

/** Status of the persistent (or given) cluster: the URL if it is running. */
export function clusterStatus(dir = persistentDir()): { running: boolean; url?: string; port?: number } {
  const pm = runningPostmaster(path.join(dir, 'data'));
  return pm ? { running: true, url: localUrl(pm.port), port: pm.port } : { running: false };
}

export async function startLocalDb(opts: StartLocalDbOptions): Promise<LocalDb> {
  const log = opts.log ?? defaultLog;
  const external = process.env.DATABASE_URL;
  if (external && opts.clockOffset) {
    throw new Error('a clock offset needs the throwaway cluster: unset DATABASE_URL');
  }
  if (opts.clockOffset && opts.persistent) throw new Error('a clock offset is for throwaway clusters only');
  if (external) {
    const u = new URL(external);
    log(`using DATABASE_URL (${u.hostname}:${u.port || 5432}${u.pathname})`);
    return { url: external, port: Number(u.port || 5432), dir: '', external: true, stop: async () => {} };
  }

  await ensurePrerequisites('database', { log });
  const id = serverIdentity();
  const persistent = opts.persistent;
  let dir: string;
  if (opts.dir) dir = path.resolve(opts.dir);
  else if (persistent) dir = persistentDir();
  else dir = await mkdtemp(path.join(os.tmpdir(), 'ccs-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const portFile = path.join(dir, 'port');

  await mkdir(dir, { recursive: true });
  if (id) await chown(dir, id.uid, id.gid);
  if (!serverCanReach(dir, id)) {
    throw new Error(
      `the postgres OS user cannot reach ${dir} (a parent directory is not searchable by it); ` +
        'use a throwaway cluster, another dir, or DATABASE_URL',
    );
  }

  let startedHere = false;
  let stopped = false;
  const removeDir = !persistent && !opts.dir;
  let offExit = () => {};
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    if (startedHere && existsSync(path.join(dataDir, 'postmaster.pid'))) {
      spawnSync(bin('pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], {
        stdio: 'ignore',
        env: serverEnv(),
        ...(id ?? {}),
      });
    }
    if (removeDir) spawnSync('rm', ['-rf', dir]);
  };
  if (!persistent) {
    offExit = onExit(stopSync);
  }

  const make = (port: number): LocalDb => ({
    url: localUrl(port),
    port,
    dir,
    external: false,
    stop: async () => {
      if (stopped) return;
      offExit();
      if (startedHere) {
        log(`stopping cluster on port ${port}`);
        await stopCluster(dataDir);
      }
      stopped = true;
      if (removeDir) await rm(dir, { recursive: true, force: true });
    },
  });

  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      await initCluster(dir, dataDir, log);
    } else if (persistent) {
      const pm = runningPostmaster(dataDir);
      if (pm) {
        if (await waitForConnect(localUrl(pm.port), 15_000)) {
          log(`reusing running cluster in ${dataDir} on port ${pm.port}`);
          return make(pm.port);
        }
        throw new Error(
          `a postmaster (pid ${pm.pid}) runs on ${dataDir} but accepts no connections; ` +
            `stop it (npm run db -- stop) or see ${logFile}`,
        );
      }
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
        log('removing stale postmaster.pid left by a previous run');
        await rm(path.join(dataDir, 'postmaster.pid'), { force: true });
      }
      await chownTree(dir, id);
    }

    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      let port = opts.port ?? 0;
      if (!port && persistent && existsSync(portFile)) {
        const previous = Number((await readFile(portFile, 'utf8')).trim());
        if (previous && (await portIsFree(previous))) port = previous;
      }
      if (!port) port = await freePort();
      const confFile = path.join(dataDir, 'localdb.conf');
      await writeFile(confFile, clusterConf(dataDir, port, persistent, opts.settings));
      if (id) await chown(confFile, id.uid, id.gid);

      const clock = opts.clockOffset ? `, its clock shifted ${opts.clockOffset.faketime} (libfaketime)` : '';
      log(`starting ${persistent ? 'persistent' : 'throwaway'} cluster in ${dataDir} on port ${port}${clock}`);
      startedHere = true;
      const r = await run(bin('pg_ctl'), ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60'], {
        asServer: true,
        detached: true, // own process group: a terminal Ctrl-C reaches us, and we stop it in order
        // pg_ctl too (it compares the postmaster's start time with its own)
        ...(opts.clockOffset ? { env: faketimeEnv(opts.clockOffset, serverEnv()) } : {}),
      });
      const url = localUrl(port);
      if (r.code === 0 && (await waitForConnect(url, 30_000))) {
        if (persistent) await writeFile(portFile, `${port}\n`);
        if (opts.clockOffset) {
          const now = await verifyServerClock(url, opts.clockOffset);
          log(`the server's clock says ${now.toISOString()} (shifted ${opts.clockOffset.faketime}, checked)`);
        }
        return make(port);
      }
      const tail = await logTail(logFile);
      await stopCluster(dataDir).catch(() => false);
      startedHere = false;
      lastError =
        `PostgreSQL did not start (pg_ctl exit ${r.code}).\n${r.output.trim()}\n--- server log tail (${logFile}) ---\n${tail}`;
      if (opts.port || !/could not bind|address already in use/i.test(tail)) break;
      log(`port ${port} was taken meanwhile; retrying with another port`);
    }
    throw new Error(lastError);
  } catch (err) {
    stopSync();
    offExit();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Supabase shape, test extensions, migrations, lint

/**
 * Creates, idempotently, what a Supabase project has and plain PostgreSQL lacks, so the same
 * migrations run on both: the API roles, the `extensions` schema with pgcrypto, Supabase's grants
 * and default privileges on schema public, and postgres' search_path. Harmless on a real project.
 * pg_cron is not created here: the migrations do that.
 */
export async function bootstrapSupabaseShape(url: string): Promise<void> {
  await withPgClient(url, async (c) => {
    await c.query(`
      do $bootstrap$
      begin
        if not exists (select from pg_roles where rolname = 'anon') then
          create role anon nologin noinherit;
        end if;
        if not exists (select from pg_roles where rolname = 'authenticated') then
          create role authenticated nologin noinherit;
        end if;
        if not exists (select from pg_roles where rolname = 'service_role') then
          create role service_role nologin noinherit bypassrls;
        end if;
        if not exists (select from pg_roles where rolname = 'authenticator') then
          create role authenticator login noinherit;
        end if;
        if not exists (select from pg_auth_members m join pg_roles r on r.oid = m.roleid
                       join pg_roles u on u.oid = m.member
                       where u.rolname = 'authenticator' and r.rolname = 'anon') then
          grant anon, authenticated, service_role to authenticator;
        end if;
        if not exists (select from pg_namespace where nspname = 'extensions') then
          create schema extensions;
          grant usage on schema extensions to postgres, anon, authenticated, service_role;
        end if;
        if not exists (select from pg_roles r, unnest(r.rolconfig) s
                       where r.rolname = 'postgres' and s like 'search_path=%') then
          alter role postgres set search_path to "$user", public, extensions;
        end if;
      end
      $bootstrap$;
      create extension if not exists pgcrypto with schema extensions;
      grant usage on schema public to postgres, anon, authenticated, service_role;
      alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
      alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
      alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
    `);
  });
}

/** Installs what tests and lint need into schema extensions: pgTAP and plpgsql_check. */
export async function installTestExtensions(url: string): Promise<void> {
  await withPgClient(url, async (c) => {
    await c.query('create extension if not exists pgtap with schema extensions');
    await c.query('create extension if not exists plpgsql_check with schema extensions');
  });
}

function supabaseBin(): { cmd: string; args: string[] } {
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'supabase');
  return existsSync(local) ? { cmd: local, args: [] } : { cmd: 'npx', args: ['--no-install', 'supabase'] };
}

/** Environment for the Supabase CLI: no telemetry, no update check, no prompts. */
export function supabaseCliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SUPABASE_TELEMETRY_DISABLED: '1',
    SUPABASE_NO_UPDATE_NOTIFIER: '1',
    DO_NOT_TRACK: '1',
    SUPABASE_YES: '1',
  };
}

/** Runs the Supabase CLI from the repo root; resolves with its exit code and combined output. */
export function runSupabase(args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  const { cmd, args: pre } = supabaseBin();
  return run(cmd, [...pre, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: supabaseCliEnv() });
}

/**
 * Applies supabase/migrations with the real CLI (`supabase db push --db-url ... --include-all`).
 * Idempotent: a second push applies nothing. Throws with the CLI's output on failure.
 */
export async function pushMigrations(url: string, opts: { cwd?: string; log?: (s: string) => void } = {}): Promise<string> {
  const log = opts.log ?? defaultLog;
  const t0 = Date.now();
  const r = await runSupabase(['db', 'push', '--db-url', cliDbUrl(url), '--include-all', '--yes'], opts);
  if (r.code !== 0) throw new Error(`supabase db push failed (exit ${r.code}):\n${r.output.trim()}`);
  log(`migrations pushed in ${Date.now() - t0} ms`);
  return r.output;
}

// Schemas that are not ours: Supabase-managed ones, and `extensions` (pgTAP's own functions would
// fill the lint report with warnings). Schemas created by an extension (cron) are skipped too.
const FOREIGN_SCHEMAS = [
  'extensions',
  'cron',
  'information_schema',
  'supabase_migrations',
  'auth',
  'storage',
  'realtime',
  '_realtime',
  'vault',
  'net',
  'graphql',
  'graphql_public',
  'pgbouncer',
  'pgsodium',
  'pgsodium_masks',
  'supabase_functions',
  '_analytics',
  'pgtle',
  'topology',
  'tiger',
  'tiger_data',
];

/** Our own schemas: every schema except system, Supabase-managed and extension-owned ones. */
export async function projectSchemas(url: string): Promise<string[]> {
  return withPgClient(url, async (c) => {
    const r = await c.query<{ nspname: string }>(
      `select n.nspname from pg_namespace n
        where n.nspname not like 'pg\\_%' and n.nspname <> all($1::text[])
          and not exists (select from pg_depend d where d.classid = 'pg_namespace'::regclass
                          and d.objid = n.oid and d.deptype = 'e')
        order by 1`,
      [FOREIGN_SCHEMAS],
    );
    return r.rows.map((row) => row.nspname);
  });
}

/**
 * Runs `supabase db lint` (plpgsql_check over every PL/pgSQL function) at level warning over the
 * project's own schemas. Resolves with ok=false and the findings when there are any.
 */
export async function lintDatabase(url: string, opts: { cwd?: string } = {}): Promise<{ ok: boolean; output: string }> {
  const schemas = await projectSchemas(url);
  const r = await runSupabase(
    ['db', 'lint', '--db-url', cliDbUrl(url), '--schema', schemas.join(','), '--level', 'warning', '--fail-on', 'warning'],
    opts,
  );
  return { ok: r.code === 0, output: r.output.trim() };
}

/** Everything `npm start` / bench need: start (or reuse) the cluster, shape it, push migrations. */
export async function prepareDb(opts: StartLocalDbOptions & { testExtensions?: boolean }): Promise<LocalDb> {
  const db = await startLocalDb(opts);
  try {
    await bootstrapSupabaseShape(db.url);
    if (opts.testExtensions) await installTestExtensions(db.url);
    await pushMigrations(db.url, { log: opts.log ?? defaultLog });
    return db;
  } catch (err) {
    await db.stop();
    throw err;
  }
}
