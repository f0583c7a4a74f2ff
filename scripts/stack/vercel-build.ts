// The real Vercel build, on this machine and offline: `vercel build` (the Vercel CLI from npm,
// pinned in tools/vercel/package.json and installed there on first use, ~250 MB, kept out of the
// project's own dependencies) writes the Build Output API tree to .vercel/output: static/ (the
// dashboard) and functions/api/**/*.func (each route compiled by @vercel/node, with the files and
// node_modules it needs traced into its folder). npm test builds before vitest; npm start builds
// when the inputs changed since the last build; the local Vercel server serves what was built.
//
//   npx tsx scripts/stack/vercel-build.ts [--if-stale]

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCaptured } from './processes.ts';

const HERE = fileURLToPath(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(HERE), '..', '..');

export const VERCEL_TOOL_DIR = path.join(REPO_ROOT, 'tools', 'vercel');
export const VERCEL_DIR = path.join(REPO_ROOT, '.vercel');
export const VERCEL_OUTPUT_DIR = path.join(VERCEL_DIR, 'output');
/** What the last successful build was built from (see inputsHash). */
const STAMP = path.join(VERCEL_DIR, 'build-inputs.sha256');

/** Files and folders whose content the build depends on. */
const INPUTS = [
  'api',
  'public',
  'supabase/functions/_shared',
  'vercel.json',
  'tsconfig.json',
  'package.json',
  'package-lock.json',
  'tools/vercel/package-lock.json',
];

/**
 * A local stand-in for a linked project: `vercel build` reads the project's settings from here
 * instead of asking Vercel. "Other" framework, no build or install command (node_modules is
 * installed already): the same settings docs/DEPLOY.md gives the real project.
 */
const LOCAL_PROJECT = {
  projectId: 'prj_local_build',
  orgId: 'team_local_build',
  settings: {
    framework: null,
    buildCommand: null,
    installCommand: null,
    outputDirectory: null,
    rootDirectory: null,
    devCommand: null,
  },
};

export interface VercelStepResult {
  /** False when the step had nothing to do. */
  ran: boolean;
  ms: number;
}

type Log = (message: string) => void;

function pinnedVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(VERCEL_TOOL_DIR, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  return pkg.dependencies.vercel!;
}

function installedVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(path.join(VERCEL_TOOL_DIR, 'node_modules', 'vercel', 'package.json'), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** The CLI's entry point (after ensureVercelCli). */
export function vercelCliPath(): string {
  return path.join(VERCEL_TOOL_DIR, 'node_modules', 'vercel', 'dist', 'vc.js');
}

/** `npm ci --prefix tools/vercel` unless the pinned version is installed there already. */
export async function ensureVercelCli(log: Log = () => {}): Promise<VercelStepResult> {
  const t0 = Date.now();
  const want = pinnedVersion();
  if (installedVersion() === want && existsSync(vercelCliPath())) return { ran: false, ms: 0 };
  log(`installing the Vercel CLI ${want} into tools/vercel (first use; ~250 MB)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = await runCaptured(npm, ['ci', '--prefix', VERCEL_TOOL_DIR, '--no-audit', '--no-fund'], {
    cwd: REPO_ROOT,
    env: process.env,
  });
  if (r.code !== 0 || installedVersion() !== want) {
    throw new Error(`npm ci --prefix tools/vercel failed (exit ${r.code}):\n${r.output.slice(-4000)}`);
  }
  const ms = Date.now() - t0;
  log(`Vercel CLI ${want} installed in ${(ms / 1000).toFixed(1)} s`);
  return { ran: true, ms };
}

/** The files under rel (a file or a folder), relative to the repository, node_modules left out. */
function listFiles(rel: string): string[] {
  const abs = path.join(REPO_ROOT, rel);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [rel];
  return readdirSync(abs, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(REPO_ROOT, path.join(e.parentPath, e.name)))
    .filter((f) => !f.split(path.sep).includes('node_modules'));
}

/** A digest of every input of the build, and the pinned CLI version. */
export function inputsHash(): string {
  const hash = createHash('sha256').update(`vercel@${pinnedVersion()}\n`);
  for (const f of [...new Set(INPUTS.flatMap(listFiles))].sort()) {
    hash.update(`${f}\n`).update(readFileSync(path.join(REPO_ROOT, f))).update('\n');
  }
  return hash.digest('hex');
}

/** True when .vercel/output was built from the current inputs. */
export function vercelBuildIsFresh(): boolean {
  try {
    return existsSync(VERCEL_OUTPUT_DIR) && readFileSync(STAMP, 'utf8').trim() === inputsHash();
  } catch {
    return false;
  }
}

/** Held (a directory: mkdir is atomic) by the process building .vercel/output; holds its pid. */
const BUILD_LOCK = path.join(VERCEL_DIR, 'build.lock');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs fn while holding BUILD_LOCK, so that one process at a time builds or checks the build: npm
 * test builds while its vitest workers start, and a test file that needs the output waits here
 * until the build is done (then finds it fresh). A lock whose holder died is taken over.
 */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(VERCEL_DIR, { recursive: true });
  const pidFile = path.join(BUILD_LOCK, 'pid');
  for (;;) {
    try {
      await mkdir(BUILD_LOCK);
      await writeFile(pidFile, `${process.pid}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      // No pid yet: the holder is between its mkdir and its write; wait like for a live one.
      if (holder && !isAlive(holder)) await rm(BUILD_LOCK, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(BUILD_LOCK, { recursive: true, force: true });
  }
}

/**
 * `vercel build` in the repository (offline: a local .vercel/project.json when none is there,
 * node_modules as installed). Throws with the CLI's output when the build fails.
 */
export function vercelBuild(log: Log = () => {}): Promise<VercelStepResult> {
  return withBuildLock(() => build(log));
}

async function build(log: Log): Promise<VercelStepResult> {
  await ensureVercelCli(log);
  const projectFile = path.join(VERCEL_DIR, 'project.json');
  if (!existsSync(projectFile)) {
    await mkdir(VERCEL_DIR, { recursive: true });
    await writeFile(projectFile, `${JSON.stringify(LOCAL_PROJECT, null, 2)}\n`);
  }
  const hash = inputsHash();
  const t0 = Date.now();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // node_modules is installed (npm ci): the Node builder skips its own `npm install`.
    VERCEL_INSTALL_COMPLETED: '1',
    VERCEL_TELEMETRY_DISABLED: '1',
    NO_COLOR: '1',
  };
  const r = await runCaptured(
    process.execPath,
    [vercelCliPath(), 'build', '--yes', '--cwd', REPO_ROOT, '--global-config', path.join(VERCEL_DIR, 'cli-global')],
    { cwd: REPO_ROOT, env },
  );
  const ms = Date.now() - t0;
  if (r.code !== 0 || !existsSync(path.join(VERCEL_OUTPUT_DIR, 'config.json'))) {
    throw new Error(`vercel build failed (exit ${r.code}):\n${r.output.slice(-4000)}`);
  }
  await writeFile(STAMP, `${hash}\n`);
  log(`vercel build: .vercel/output in ${(ms / 1000).toFixed(1)} s`);
  return { ran: true, ms };
}

/** Builds unless .vercel/output is fresh (waiting first for a build under way in another process). */
export function ensureVercelBuild(log: Log = () => {}): Promise<VercelStepResult> {
  return withBuildLock(() => (vercelBuildIsFresh() ? Promise.resolve({ ran: false, ms: 0 }) : build(log)));
}

/** A function of the build output: its folder and its .vc-config.json. */
export interface BuiltFunction {
  /** The route it serves, e.g. /api/scheduler/tick. */
  route: string;
  dir: string;
  config: {
    handler: string;
    runtime: string;
    launcherType?: string;
    shouldAddHelpers?: boolean;
    maxDuration?: number;
    [k: string]: unknown;
  };
}

/** Every function in .vercel/output/functions. */
export function builtFunctions(outputDir = VERCEL_OUTPUT_DIR): BuiltFunction[] {
  const root = path.join(outputDir, 'functions');
  if (!existsSync(root)) return [];
  const out: BuiltFunction[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const abs = path.join(dir, e.name);
      if (e.name.endsWith('.func')) {
        const rel = path.relative(root, abs).slice(0, -'.func'.length).split(path.sep).join('/');
        out.push({
          route: `/${rel}`,
          dir: abs,
          config: JSON.parse(readFileSync(path.join(abs, '.vc-config.json'), 'utf8')) as BuiltFunction['config'],
        });
      } else {
        walk(abs);
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a.route.localeCompare(b.route));
}

/** Reads .vercel/output/config.json (routes, crons). */
export async function buildOutputConfig(outputDir = VERCEL_OUTPUT_DIR): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(outputDir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

if (process.argv[1] && path.resolve(process.argv[1]) === HERE) {
  const log = (s: string) => process.stderr.write(`[vercel] ${s}\n`);
  const step = process.argv.includes('--if-stale') ? ensureVercelBuild(log) : vercelBuild(log);
  step.then(
    (r) => {
      if (!r.ran) log('.vercel/output is up to date');
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
