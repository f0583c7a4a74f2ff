// The prerequisites check (scripts/stack/prereqs.ts) against a fake machine: a package probe that
// says what is installed, a privilege answer (root, passwordless sudo, neither) and a runner that
// records the apt-get commands instead of running them. What it prints and runs is asserted; the
// real install path runs in CI, where `npm test` starts on a machine without these packages.

import { describe, expect, it } from 'vitest';
import {
  ensurePrerequisites,
  type Host,
  neededBy,
  planPrerequisites,
  PrerequisitesMissing,
  type Privilege,
  requirements,
} from '../scripts/stack/prereqs.ts';

const ALL_PACKAGES = Object.values(requirements(15)).map((r) => r.package);

interface FakeMachine {
  host: Host;
  /** Commands run, as printed. */
  ran: string[];
  printed: string[];
  log: (line: string) => void;
}

function fakeMachine(opts: {
  missing: string[];
  privilege: Privilege;
  apt?: boolean;
  /** Exit code of `apt-get install` (0 = installs the packages it is given). */
  installExit?: number;
}): FakeMachine {
  const missing = new Set(opts.missing);
  const ran: string[] = [];
  const printed: string[] = [];
  let clock = 1_000_000;
  const host: Host = {
    probe: (r) => !missing.has(r.package),
    privilege: () => opts.privilege,
    hasApt: () => opts.apt ?? true,
    run: async (cmd, args, env) => {
      const envText = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
      ran.push(`${envText}${cmd} ${args.join(' ')}`);
      clock += 6_000;
      const installIndex = args.indexOf('install');
      if (installIndex < 0) return { code: 0, output: 'Reading package lists...\n' };
      if (opts.installExit) return { code: opts.installExit, output: 'E: Unable to locate package postgresql-15-cron\n' };
      for (const a of args.slice(installIndex + 1)) missing.delete(a);
      return { code: 0, output: 'Setting up postgresql-15-cron ...\n' };
    },
    now: () => clock,
  };
  return { host, ran, printed, log: (line) => printed.push(line) };
}

describe('which command needs which package', () => {
  it('npm start needs the server, pg_cron and PgBouncer; npm test needs every one but faketime', () => {
    expect(neededBy('start', { external: false, major: 15 }).map((r) => r.package)).toEqual([
      'postgresql-15',
      'postgresql-15-cron',
      'pgbouncer',
    ]);
    expect(neededBy('test', { external: false, major: 15 }).map((r) => r.package).sort()).toEqual(
      ALL_PACKAGES.filter((p) => p !== 'faketime').sort(),
    );
  });

  it('--clock-offset adds faketime; --pgtap-only leaves out the browser and the pooler', () => {
    expect(neededBy('test', { external: false, major: 15, also: ['clock'] }).map((r) => r.package).sort()).toEqual(
      [...ALL_PACKAGES].sort(),
    );
    expect(neededBy('pgtap', { external: false, major: 15, also: ['clock'] }).map((r) => r.package)).toEqual([
      'postgresql-15',
      'postgresql-15-cron',
      'postgresql-15-pgtap',
      'postgresql-15-plpgsql-check',
      'postgresql-client-15',
      'libtap-parser-sourcehandler-pgtap-perl',
      'faketime',
    ]);
  });

  it('a shifted run missing only faketime installs it in the same apt-get run, named with the option', async () => {
    const m = fakeMachine({ missing: ['faketime', 'postgresql-15-pgtap'], privilege: 'root' });
    await ensurePrerequisites('pgtap', { host: m.host, log: m.log, external: false, major: 15, install: true, also: ['clock'] });
    expect(m.ran).toEqual([
      'DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql-15-pgtap faketime',
    ]);
    expect(m.printed[0]).toBe(
      'npm test --pgtap-only --clock-offset needs 2 Debian packages this machine lacks; installing them with apt-get (as root):',
    );
  });

  it('with DATABASE_URL elsewhere, the server packages are not asked for', () => {
    expect(neededBy('start', { external: true, major: 15 }).map((r) => r.package)).toEqual(['pgbouncer']);
    expect(neededBy('test', { external: true, major: 15 }).map((r) => r.package)).toEqual([
      'postgresql-client-15',
      'libtap-parser-sourcehandler-pgtap-perl',
      'chromium',
      'pgbouncer',
    ]);
  });
});

describe('ensurePrerequisites', () => {
  it('everything present: prints nothing, runs nothing', async () => {
    const m = fakeMachine({ missing: [], privilege: 'none' });
    await ensurePrerequisites('test', { host: m.host, log: m.log, external: false, major: 15 });
    expect(m.printed).toEqual([]);
    expect(m.ran).toEqual([]);
  });

  it('missing as root: says what and why once, runs apt-get update then install -y, times it', async () => {
    const m = fakeMachine({ missing: ['postgresql-15-cron'], privilege: 'root' });
    await ensurePrerequisites('start', { host: m.host, log: m.log, external: false, major: 15, install: true });
    expect(m.ran).toEqual([
      'DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql-15-cron',
    ]);
    expect(m.printed).toEqual([
      'npm start needs 1 Debian package this machine lacks; installing it with apt-get (as root):',
      '  postgresql-15-cron  pg_cron, which reserves calls every minute inside the database',
      ...m.ran,
      'installed postgresql-15-cron in 12.0 s',
    ]);
  });

  it('missing for npm test with passwordless sudo: one install of only the missing packages, through sudo', async () => {
    const m = fakeMachine({ missing: ['chromium', 'postgresql-15-pgtap', 'pgbouncer'], privilege: 'sudo' });
    await ensurePrerequisites('test', { host: m.host, log: m.log, external: false, major: 15, install: true });
    expect(m.ran).toEqual([
      'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300',
      'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 ' +
      'postgresql-15-pgtap chromium pgbouncer',
    ]);
    expect(m.printed.slice(0, 4)).toEqual([
      'npm test needs 3 Debian packages this machine lacks; installing them with apt-get (through sudo):',
      '  postgresql-15-pgtap  pgTAP, the SQL test framework of supabase/tests',
      '  chromium             headless Chromium for the dashboard browser test',
      '  pgbouncer            PgBouncer, the transaction-mode pooler in front of the database',
    ]);
    expect(m.printed.at(-1)).toBe('installed postgresql-15-pgtap chromium pgbouncer in 12.0 s');
    // Installed now: a second run has nothing to say.
    const again: string[] = [];
    await ensurePrerequisites('test', { host: m.host, log: (l) => again.push(l), external: false, major: 15 });
    expect(again).toEqual([]);
  });

  it('missing, not root and no passwordless sudo: installs nothing, fails with the one command to run', async () => {
    const m = fakeMachine({ missing: ['postgresql-15-cron', 'pgbouncer'], privilege: 'none' });
    const err = await ensurePrerequisites('start', { host: m.host, log: m.log, external: false, major: 15, install: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PrerequisitesMissing);
    expect((err as Error).message.split('\n')).toEqual([
      'npm start needs 2 Debian packages this machine lacks:',
      '  postgresql-15-cron  pg_cron, which reserves calls every minute inside the database',
      '  pgbouncer           PgBouncer, the transaction-mode pooler in front of the database',
      'Nothing installed (not root, and no passwordless sudo). Run this, then npm start again:',
      '',
      '  sudo apt-get update && sudo apt-get install -y postgresql-15-cron pgbouncer',
    ]);
    expect(m.ran).toEqual([]);
    expect(m.printed).toEqual([]);
  });

  it('INSTALL_PREREQUISITES=0 as root: the command to run, without sudo', () => {
    const m = fakeMachine({ missing: ['postgresql-15-cron'], privilege: 'root' });
    const plan = planPrerequisites('start', { host: m.host, external: false, major: 15, install: false });
    expect(plan).toMatchObject({
      action: 'manual',
      reason: 'INSTALL_PREREQUISITES=0',
      command: 'apt-get update && apt-get install -y postgresql-15-cron',
    });
  });

  it('no apt-get: names the Debian packages and fails', async () => {
    const m = fakeMachine({ missing: ['pgbouncer'], privilege: 'root', apt: false });
    await expect(
      ensurePrerequisites('start', { host: m.host, log: m.log, external: false, major: 15, install: true }),
    ).rejects.toThrow(/Nothing installed \(this machine has no apt-get\).*Debian names: pgbouncer\), then run npm start again/);
    expect(m.ran).toEqual([]);
  });

  it('apt-get install fails: its output tail and the command to run by hand', async () => {
    const m = fakeMachine({ missing: ['postgresql-15-cron'], privilege: 'root', installExit: 100 });
    const err = await ensurePrerequisites('start', { host: m.host, log: m.log, external: false, major: 15, install: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PrerequisitesMissing);
    const message = (err as Error).message;
    expect(message).toContain('apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql-15-cron failed (exit 100):');
    expect(message).toContain('E: Unable to locate package postgresql-15-cron');
    expect(message.split('\n').at(-1)).toBe('  apt-get update && apt-get install -y postgresql-15-cron');
  });
});
