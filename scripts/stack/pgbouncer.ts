// PgBouncer in transaction mode between the functions and the database, as Supabase's pooler
// (port 6543) stands between Edge Functions and Postgres: every transaction may run on another
// server connection, so nothing may rely on session state. Used by `npm start` and `npm test`.
//
// Debian's `pgbouncer` (/usr/sbin/pgbouncer), started in the foreground on a free loopback port,
// as the unprivileged `postgres` OS user when we are root (like the cluster), with its config,
// auth file, log and pid file in `<cluster dir>/pgbouncer/`. Authentication matches the local
// cluster (trust); the database's own password, if its URL has one, is in the auth file for
// PgBouncer's server logins. Stopped by stop(), and killed if this process exits first.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serverIdentity } from './localdb.ts';
import { canQuery, freePort, killOnExit, stopChild } from './processes.ts';

export interface PgBouncer {
  /** postgresql:// URL through PgBouncer (same user, password and database as the direct URL). */
  url: string;
  /** The admin console (database `pgbouncer`): SHOW POOLS, KILL, RECONNECT... (simple queries only). */
  adminUrl: string;
  port: number;
  pid: number;
  /** Directory with pgbouncer.ini, userlist.txt, pgbouncer.log. */
  dir: string;
  stop(): Promise<void>;
}

export interface StartPgBouncerOptions {
  /** The direct database URL PgBouncer connects to (a loopback address). */
  databaseUrl: string;
  /** Where the config goes: `<dir>/pgbouncer/`. Default: a fresh temporary directory (removed on stop). */
  dir?: string;
  /** Server connections per database and user (default 20). */
  poolSize?: number;
  log?: (s: string) => void;
}

const defaultLog = (s: string) => process.stderr.write(`[pgbouncer] ${s}\n`);

/** The PgBouncer binary: $PGBOUNCER_BIN, /usr/sbin/pgbouncer, or pgbouncer on PATH. */
export function pgbouncerBin(): string | undefined {
  const candidates = [process.env.PGBOUNCER_BIN, '/usr/sbin/pgbouncer'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

/** The URL through the pooler: the direct URL with the pooler's host and port. */
export function poolerUrl(databaseUrl: string, port: number, database?: string): string {
  const u = new URL(databaseUrl);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

function quote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

function config(
  opts: { dbHost: string; dbPort: number; port: number; dir: string; poolSize: number; adminUser: string },
): string {
  return [
    '; Written by scripts/stack/pgbouncer.ts on every start; edit that file, not this one.',
    '[databases]',
    // Any database name maps to the same name on the cluster.
    `* = host=${opts.dbHost} port=${opts.dbPort}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${opts.port}`,
    'unix_socket_dir =',
    // What Supabase's pooler on port 6543 does: a server connection per transaction.
    'pool_mode = transaction',
    'auth_type = trust',
    `auth_file = ${path.join(opts.dir, 'userlist.txt')}`,
    `admin_users = ${opts.adminUser}`,
    `stats_users = ${opts.adminUser}`,
    `default_pool_size = ${opts.poolSize}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    'max_client_conn = 1000',
    'max_db_connections = 0',
    // Check a server connection before reuse when it sat idle (a terminated backend is noticed).
    'server_check_delay = 1',
    'server_check_query = select 1',
    'server_reset_query = DISCARD ALL',
    'server_lifetime = 3600',
    'server_idle_timeout = 60',
    'query_wait_timeout = 60',
    // Sent by some drivers on connect; harmless to ignore (node-postgres sends none of these).
    'ignore_startup_parameters = extra_float_digits',
    `logfile = ${path.join(opts.dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(opts.dir, 'pgbouncer.pid')}`,
    'log_connections = 0',
    'log_disconnections = 0',
    'log_pooler_errors = 1',
    '',
  ].join('\n');
}

/** Starts PgBouncer in transaction mode in front of databaseUrl; resolves once it answers. */
export async function startPgBouncer(opts: StartPgBouncerOptions): Promise<PgBouncer> {
  const log = opts.log ?? defaultLog;
  const bin = pgbouncerBin();
  if (!bin) throw new Error('PgBouncer is not installed: apt-get install pgbouncer (or set PGBOUNCER_BIN)');
  const db = new URL(opts.databaseUrl);
  const user = decodeURIComponent(db.username) || 'postgres';
  const password = decodeURIComponent(db.password);
  const id = serverIdentity();
  const ownDir = !opts.dir;
  const dir = opts.dir ? path.join(opts.dir, 'pgbouncer') : await mkdtemp(path.join(os.tmpdir(), 'ccs-pgbouncer-'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (id) await chown(dir, id.uid, id.gid);
  const userlist = path.join(dir, 'userlist.txt');
  await writeFile(userlist, `${quote(user)} ${quote(password)}\n`, { mode: 0o600 });
  if (id) await chown(userlist, id.uid, id.gid);
  await rm(path.join(dir, 'pgbouncer.pid'), { force: true });

  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const ini = path.join(dir, 'pgbouncer.ini');
    await writeFile(
      ini,
      config({
        dbHost: db.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
        dbPort: Number(db.port || 5432),
        port,
        dir,
        poolSize: opts.poolSize ?? 20,
        adminUser: user,
      }),
    );
    if (id) await chown(ini, id.uid, id.gid);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LC_ALL: 'C', HOME: os.tmpdir() };
    const child = spawn(bin, [ini], {
      ...(id ?? {}),
      env,
      cwd: dir,
      // Own process group: a terminal Ctrl-C reaches us, and we stop it in order.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    killOnExit(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const url = poolerUrl(opts.databaseUrl, port);
    const deadline = Date.now() + 20_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await canQuery(url)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (up) {
      log(`PgBouncer (transaction mode) on 127.0.0.1:${port} -> ${db.hostname}:${db.port || 5432} (pid ${child.pid}, ${dir})`);
      let stopped = false;
      return {
        url,
        adminUrl: poolerUrl(opts.databaseUrl, port, 'pgbouncer'),
        port,
        pid: child.pid!,
        dir,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await stopChild(child, 5000); // SIGTERM: PgBouncer's immediate shutdown
          if (ownDir) await rm(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exited;
    const logTail = await readFile(path.join(dir, 'pgbouncer.log'), 'utf8').catch(() => '');
    lastError = `PgBouncer did not start on port ${port}:\n${stderr.trim()}\n${logTail.trim().split('\n').slice(-20).join('\n')}`;
    if (!/address already in use|bind/i.test(lastError)) break;
    log(`port ${port} was taken meanwhile; retrying with another port`);
  }
  if (ownDir) await rm(dir, { recursive: true, force: true });
  throw new Error(lastError);
}
