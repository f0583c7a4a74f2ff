// The Debian packages the local stack needs: which command needs which, how to tell each one is
// installed, and installing the missing ones with apt-get before the command starts (as root, or
// through passwordless sudo), saying what and why. Where it cannot install, it prints the one
// command to run and fails. Used by `npm start`, `npm test` (hence CI), `npm run lint` and every
// local cluster start (`npm run db`, `npm run bench`).
//
// INSTALL_PREREQUISITES=0 turns the installing off: missing packages are then only reported.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { libfaketimePath } from './faketime.ts';

// ---------------------------------------------------------------------------------------------
// Where PostgreSQL is

export interface PgInstall {
  bindir: string;
  sharedir: string;
  pkglibdir: string;
  major: number;
}

/** The major version whose Debian packages we install when no PostgreSQL is found. */
export const DEFAULT_PG_MAJOR = 15;

let cachedInstall: PgInstall | undefined;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Locates PostgreSQL through pg_config: in $PG_BINDIR, /usr/lib/postgresql/15/bin, or on PATH. */
export function findPgInstall(): PgInstall | undefined {
  if (cachedInstall) return cachedInstall;
  const candidates = [process.env.PG_BINDIR, `/usr/lib/postgresql/${DEFAULT_PG_MAJOR}/bin`].filter((d): d is string => !!d);
  let pgConfig = candidates.map((d) => path.join(d, 'pg_config')).find((p) => existsSync(p));
  if (!pgConfig) {
    const which = spawnSync('sh', ['-c', 'command -v pg_config'], { encoding: 'utf8' });
    if (which.status === 0 && which.stdout.trim()) pgConfig = which.stdout.trim();
  }
  if (!pgConfig) return undefined;
  const out = spawnSync(pgConfig, ['--bindir', '--sharedir', '--pkglibdir', '--version'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${pgConfig} failed: ${out.stderr}`);
  const [bindir = '', sharedir = '', pkglibdir = '', version = ''] = out.stdout.trim().split('\n');
  const major = Number(/PostgreSQL (\d+)/.exec(version)?.[1] ?? 0);
  cachedInstall = { bindir, sharedir, pkglibdir, major };
  return cachedInstall;
}

/** The PostgreSQL installation; throws with the package to install when there is none. */
export function pgInstall(): PgInstall {
  const found = findPgInstall();
  if (!found) {
    throw new Error(
      `PostgreSQL ${DEFAULT_PG_MAJOR} is not installed: apt-get install postgresql-${DEFAULT_PG_MAJOR} (or set PG_BINDIR)`,
    );
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// What is needed, by which command

export type RequirementId =
  | 'postgresql'
  | 'psql'
  | 'pg_cron'
  | 'pgtap'
  | 'plpgsql_check'
  | 'pg_prove'
  | 'chromium'
  | 'pgbouncer'
  | 'faketime';

export interface Requirement {
  id: RequirementId;
  /** The Debian package that provides it. */
  package: string;
  /** What it is for, in the message that says it is installed. */
  why: string;
  /** Part of the database server: not needed here when DATABASE_URL points at another database. */
  server: boolean;
}

export function requirements(major = findPgInstall()?.major || DEFAULT_PG_MAJOR): Record<RequirementId, Requirement> {
  const pg = `postgresql-${major}`;
  return {
    postgresql: { id: 'postgresql', package: pg, why: `the PostgreSQL ${major} server the local database runs on`, server: true },
    psql: {
      id: 'psql',
      package: `postgresql-client-${major}`,
      why: 'psql, which pg_prove runs the pgTAP files with',
      server: false,
    },
    pg_cron: {
      id: 'pg_cron',
      package: `${pg}-cron`,
      why: 'pg_cron, which reserves calls every minute inside the database',
      server: true,
    },
    pgtap: { id: 'pgtap', package: `${pg}-pgtap`, why: 'pgTAP, the SQL test framework of supabase/tests', server: true },
    plpgsql_check: {
      id: 'plpgsql_check',
      package: `${pg}-plpgsql-check`,
      why: 'plpgsql_check, which supabase db lint runs',
      server: true,
    },
    pg_prove: {
      id: 'pg_prove',
      package: 'libtap-parser-sourcehandler-pgtap-perl',
      why: 'pg_prove, which runs the pgTAP files',
      server: false,
    },
    chromium: { id: 'chromium', package: 'chromium', why: 'headless Chromium for the dashboard browser test', server: false },
    pgbouncer: {
      id: 'pgbouncer',
      package: 'pgbouncer',
      why: 'PgBouncer, the transaction-mode pooler in front of the database',
      server: false,
    },
    faketime: {
      id: 'faketime',
      package: 'faketime',
      why: 'libfaketime, which runs the test database a year ahead (--clock-offset)',
      server: true,
    },
  };
}

export type Purpose = 'start' | 'test' | 'pgtap' | 'clock' | 'lint' | 'bench' | 'database';

const NEEDS: Record<Purpose, { label: string; ids: RequirementId[] }> = {
  start: { label: 'npm start', ids: ['postgresql', 'pg_cron', 'pgbouncer'] },
  test: {
    label: 'npm test',
    ids: ['postgresql', 'pg_cron', 'pgtap', 'plpgsql_check', 'psql', 'pg_prove', 'chromium', 'pgbouncer'],
  },
  pgtap: { label: 'npm test --pgtap-only', ids: ['postgresql', 'pg_cron', 'pgtap', 'plpgsql_check', 'psql', 'pg_prove'] },
  // Only ever asked for `also` a command (`npm test --clock-offset`), in the same apt-get run.
  clock: { label: '--clock-offset', ids: ['faketime'] },
  // The lint's database has the test extensions (installTestExtensions: pgTAP and plpgsql_check), as
  // the test run's does, so `supabase db lint` sees the same database.
  lint: { label: 'npm run lint', ids: ['postgresql', 'pg_cron', 'pgtap', 'plpgsql_check'] },
  bench: { label: 'npm run bench', ids: ['postgresql', 'pg_cron', 'pgbouncer'] },
  database: { label: 'the local database', ids: ['postgresql', 'pg_cron'] },
};

/**
 * What a command needs (and, with `also`, what those other purposes need too); with an external
 * database (DATABASE_URL), only what runs on this machine.
 */
export function neededBy(
  purpose: Purpose,
  opts: { external?: boolean; major?: number; also?: Purpose[] } = {},
): Requirement[] {
  const all = requirements(opts.major);
  const ids = [...new Set([purpose, ...(opts.also ?? [])].flatMap((p) => NEEDS[p].ids))];
  return ids.map((id) => all[id]).filter((r) => !(opts.external && r.server));
}

// ---------------------------------------------------------------------------------------------
// The machine: probe, privileges, runner (injected in tests)

export type Privilege = 'root' | 'sudo' | 'none';

export interface Host {
  /** True when the requirement is installed on this machine. */
  probe(r: Requirement): boolean;
  /** root, passwordless sudo (`sudo -n true`), or neither. Asked only when something is missing. */
  privilege(): Privilege;
  /** apt-get is there (a Debian-like machine). */
  hasApt(): boolean;
  /** Runs a command without stdin; resolves with its exit code and combined output. */
  run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; output: string }>;
  /** Milliseconds, for the timing line. */
  now(): number;
}

function firstExisting(paths: (string | undefined)[]): boolean {
  return paths.some((p) => !!p && existsSync(p));
}

/** Is it installed: the file the package provides (in the PostgreSQL found, for extensions). */
export function probeInstalled(r: Requirement): boolean {
  const pg = findPgInstall();
  const sharedir = pg?.sharedir ?? `/usr/share/postgresql/${DEFAULT_PG_MAJOR}`;
  const pkglibdir = pg?.pkglibdir ?? `/usr/lib/postgresql/${DEFAULT_PG_MAJOR}/lib`;
  const extension = (name: string, lib?: string) =>
    existsSync(path.join(sharedir, 'extension', `${name}.control`)) && (!lib || existsSync(path.join(pkglibdir, `${lib}.so`)));
  switch (r.id) {
    case 'postgresql':
      return !!pg && ['postgres', 'initdb', 'pg_ctl'].every((b) => existsSync(path.join(pg.bindir, b)));
    case 'psql':
      return onPath('psql');
    case 'pg_cron':
      return extension('pg_cron', 'pg_cron');
    case 'pgtap':
      return extension('pgtap');
    case 'plpgsql_check':
      return extension('plpgsql_check', 'plpgsql_check');
    case 'pg_prove':
      return onPath('pg_prove');
    case 'chromium':
      return firstExisting([process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']);
    case 'pgbouncer':
      return firstExisting([process.env.PGBOUNCER_BIN, '/usr/sbin/pgbouncer']) || onPath('pgbouncer');
    case 'faketime':
      return !!libfaketimePath();
  }
}

export const systemHost: Host = {
  probe: probeInstalled,
  privilege: () => {
    if (typeof process.getuid === 'function' && process.getuid() === 0) return 'root';
    if (!onPath('sudo')) return 'none';
    return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0 ? 'sudo' : 'none';
  },
  hasApt: () => onPath('apt-get'),
  run: (cmd, args, env) =>
    new Promise((resolve) => {
      const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', (err) => resolve({ code: 127, output: `${output}${err.message}\n` }));
      child.on('close', (code) => resolve({ code: code ?? 1, output }));
    }),
  now: () => Date.now(),
};

// ---------------------------------------------------------------------------------------------
// The plan, and carrying it out

export interface Step {
  cmd: string;
  args: string[];
  env: Record<string, string>;
}

export type Plan =
  | { action: 'none'; label: string; missing: [] }
  | { action: 'install'; label: string; missing: Requirement[]; as: 'root' | 'sudo'; steps: Step[] }
  | { action: 'manual'; label: string; missing: Requirement[]; reason: string; command: string | null };

export interface PlanOptions {
  /** DATABASE_URL points at another database: the server packages are that server's business. */
  external?: boolean;
  host?: Host;
  /** Default: unless INSTALL_PREREQUISITES=0. */
  install?: boolean;
  /** PostgreSQL major whose packages to name (default: the one found, else 15). */
  major?: number;
  /** Other purposes whose packages to install in the same run (e.g. 'clock' for a shifted test run). */
  also?: Purpose[];
}

const APT_OPTIONS = ['-q', '-o', 'DPkg::Lock::Timeout=300'];

function installSteps(packages: string[], as: 'root' | 'sudo'): Step[] {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const update = ['apt-get', 'update', ...APT_OPTIONS];
  const install = ['apt-get', 'install', '-y', ...APT_OPTIONS, ...packages];
  if (as === 'root') {
    return [
      { cmd: update[0]!, args: update.slice(1), env },
      { cmd: install[0]!, args: install.slice(1), env },
    ];
  }
  // sudo resets the environment: pass DEBIAN_FRONTEND through env(1).
  const sudo = (argv: string[]): Step => ({
    cmd: 'sudo',
    args: ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', ...argv],
    env: {},
  });
  return [sudo(update), sudo(install)];
}

/** The one command a person runs to install the packages. */
export function manualCommand(packages: string[], root: boolean): string {
  const sudo = root ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.join(' ')}`;
}

/** What to do for a command: nothing, install (how), or ask the person to run one command. */
export function planPrerequisites(purpose: Purpose, opts: PlanOptions = {}): Plan {
  const host = opts.host ?? systemHost;
  const label = [purpose, ...(opts.also ?? [])].map((p) => NEEDS[p].label).join(' ');
  const missing = neededBy(purpose, {
    external: opts.external ?? !!process.env.DATABASE_URL,
    major: opts.major,
    also: opts.also,
  }).filter(
    (r) => !host.probe(r),
  );
  if (missing.length === 0) return { action: 'none', label, missing: [] };
  const packages = missing.map((r) => r.package);
  if (!host.hasApt()) {
    return { action: 'manual', label, missing, reason: 'this machine has no apt-get', command: null };
  }
  const privilege = host.privilege();
  const install = opts.install ?? process.env.INSTALL_PREREQUISITES !== '0';
  if (!install) {
    return {
      action: 'manual',
      label,
      missing,
      reason: 'INSTALL_PREREQUISITES=0',
      command: manualCommand(packages, privilege === 'root'),
    };
  }
  if (privilege === 'none') {
    return {
      action: 'manual',
      label,
      missing,
      reason: 'not root, and no passwordless sudo',
      command: manualCommand(packages, false),
    };
  }
  return { action: 'install', label, missing, as: privilege, steps: installSteps(packages, privilege) };
}

function missingLines(missing: Requirement[]): string[] {
  const width = Math.max(...missing.map((r) => r.package.length));
  return missing.map((r) => `  ${r.package.padEnd(width)}  ${r.why}`);
}

export function stepText(step: Step): string {
  const env = Object.entries(step.env).map(([k, v]) => `${k}=${v} `);
  return `${env.join('')}${step.cmd} ${step.args.join(' ')}`;
}

/** The lines announcing a plan (before anything runs). Empty when nothing is missing. */
export function describePlan(plan: Plan): string[] {
  if (plan.action === 'none') return [];
  const n = plan.missing.length;
  const head = `${plan.label} needs ${n} Debian package${n === 1 ? '' : 's'} this machine lacks`;
  if (plan.action === 'install') {
    const how = plan.as === 'root' ? 'as root' : 'through sudo';
    return [`${head}; installing ${n === 1 ? 'it' : 'them'} with apt-get (${how}):`, ...missingLines(plan.missing)];
  }
  const packages = plan.missing.map((r) => r.package);
  if (plan.command === null) {
    return [
      `${head}:`,
      ...missingLines(plan.missing),
      `Nothing installed (${plan.reason}): install them with this system's package manager ` +
      `(Debian names: ${packages.join(' ')}), then run ${plan.label} again.`,
    ];
  }
  return [
    `${head}:`,
    ...missingLines(plan.missing),
    `Nothing installed (${plan.reason}). Run this, then ${plan.label} again:`,
    '',
    `  ${plan.command}`,
  ];
}

/** A command cannot run: packages are missing and were not (or could not be) installed. */
export class PrerequisitesMissing extends Error {
  override name = 'PrerequisitesMissing';
}

export interface EnsureOptions extends PlanOptions {
  log?: (line: string) => void;
}

/**
 * Makes sure a command's packages are installed: silent when they are; otherwise says what is
 * missing and why, installs it (apt-get update, then apt-get install -y, timed) and checks again.
 * Throws PrerequisitesMissing, whose message is the whole explanation (with the one command to run
 * when it could not install), so callers print it and exit non-zero.
 */
export async function ensurePrerequisites(purpose: Purpose, opts: EnsureOptions = {}): Promise<void> {
  const host = opts.host ?? systemHost;
  const log = opts.log ?? ((s: string) => process.stderr.write(`[prereqs] ${s}\n`));
  const plan = planPrerequisites(purpose, { ...opts, host });
  if (plan.action === 'none') return;
  const lines = describePlan(plan);
  if (plan.action === 'manual') throw new PrerequisitesMissing(lines.join('\n'));

  for (const line of lines) log(line);
  const t0 = host.now();
  for (const step of plan.steps) {
    log(stepText(step));
    const r = await host.run(step.cmd, step.args, step.env);
    if (r.code !== 0) {
      const tail = r.output.trimEnd().split('\n').slice(-15).join('\n');
      throw new PrerequisitesMissing(
        `${stepText(step)} failed (exit ${r.code}):\n${tail}\n` +
          `Install the packages by hand, then run ${plan.label} again:\n\n` +
          `  ${manualCommand(plan.missing.map((m) => m.package), plan.as === 'root')}`,
      );
    }
  }
  const seconds = ((host.now() - t0) / 1000).toFixed(1);
  const still = plan.missing.filter((r) => !host.probe(r));
  if (still.length) {
    throw new PrerequisitesMissing(
      `apt-get installed ${plan.missing.map((r) => r.package).join(' ')}, but these are still not found:\n` +
        `${missingLines(still).join('\n')}\n(PG_BINDIR / CHROMIUM_PATH / PGBOUNCER_BIN point elsewhere?)`,
    );
  }
  log(`installed ${plan.missing.map((r) => r.package).join(' ')} in ${seconds} s`);
}

/** The command's requirements that are missing (probe only, installs nothing). */
export function missingPrerequisites(purpose: Purpose, opts: { external?: boolean; host?: Host } = {}): Requirement[] {
  const host = opts.host ?? systemHost;
  return neededBy(purpose, { external: opts.external ?? !!process.env.DATABASE_URL }).filter((r) => !host.probe(r));
}
