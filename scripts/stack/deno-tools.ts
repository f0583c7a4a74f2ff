// The TypeScript formatter, linter and Deno type check, with their settings in one place:
// `deno fmt` and `deno lint` (they ship with the `deno` npm package) over every TypeScript and
// JavaScript file of the project, and `deno check` over the Edge Functions as Supabase runs them.
// Used by `npm test` (scripts/test.ts: each counts as one failure when it finds anything; there
// they run in the background, denoChecksInBackground), `npm run lint` and `npm run fmt` (which
// rewrites the files instead of checking them).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './localdb.ts';
import { runCaptured } from './processes.ts';

/** What deno fmt and deno lint look at. */
export const SOURCE_PATHS = ['api', 'public', 'scripts', 'supabase/functions', 'test', 'vitest.config.ts'];
/** deno fmt's settings: the project's existing style. */
export const FMT_FLAGS = ['--single-quote', '--line-width=130'];

const deno = path.join(REPO_ROOT, 'node_modules', '.bin', 'deno');

function run(args: string[], log: (s: string) => void, label: string): boolean {
  log(`deno ${args.join(' ')}`);
  const r = spawnSync(deno, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } });
  const ok = r.status === 0;
  log(`${label}: ${ok ? 'ok' : 'FAILED'}`);
  return ok;
}

function fmtArgs(write: boolean): string[] {
  return ['fmt', ...(write ? [] : ['--check']), ...FMT_FLAGS, ...SOURCE_PATHS];
}

/** `deno fmt --check` (or, with write, formats the files). */
export function denoFmt(log: (s: string) => void, opts: { write?: boolean } = {}): boolean {
  return run(fmtArgs(!!opts.write), log, opts.write ? 'deno fmt' : 'deno fmt --check');
}

/**
 * deno lint's recommended rules, less require-await: an `async` function without `await` is how
 * adapters, fakes and handlers satisfy an interface that returns a promise (a throw becomes a
 * rejection, as callers expect).
 */
export const LINT_FLAGS = ['--rules-exclude=require-await'];

const lintArgs = () => ['lint', ...LINT_FLAGS, ...SOURCE_PATHS];

export function denoLint(log: (s: string) => void): boolean {
  return run(lintArgs(), log, 'deno lint');
}

/** `deno check` of each function's index.ts and of the local gateway, with the functions' deno.json. */
export function denoCheck(log: (s: string) => void): boolean {
  return run(checkArgs(), log, 'deno check');
}

function checkArgs(): string[] {
  const functionsDir = path.join(REPO_ROOT, 'supabase', 'functions');
  const entries = readdirSync(functionsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('_'))
    .map((d) => path.join('supabase', 'functions', d.name, 'index.ts'))
    .filter((f) => existsSync(path.join(REPO_ROOT, f)));
  for (const gateway of ['functions-serve.ts', 'function-worker.ts']) {
    if (existsSync(path.join(REPO_ROOT, 'scripts', 'stack', gateway))) entries.push(`scripts/stack/${gateway}`);
  }
  return ['check', '--config', path.join('supabase', 'functions', 'deno.json'), ...entries];
}

/**
 * `deno fmt --check`, `deno lint` and `deno check`, one after the other without blocking this
 * process (npm test runs them beside the suites). Each one's output is held back and written
 * whole when it ends, so it does not interleave with the tests' output. Resolves with the number
 * of those that found something.
 */
export async function denoChecksInBackground(log: (s: string) => void): Promise<number> {
  let failed = 0;
  for (
    const [label, args] of [['deno fmt --check', fmtArgs(false)], ['deno lint', lintArgs()], ['deno check', checkArgs()]] as const
  ) {
    const r = await runCaptured(deno, args, { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' } }).then(
      ({ code, output }) => ({ ok: code === 0, output }),
      (err: unknown) => ({ ok: false, output: String(err) }),
    );
    if (!r.ok) {
      failed += 1;
      process.stdout.write(`${r.output.trimEnd()}\n`);
    }
    log(`${label}: ${r.ok ? 'ok' : 'FAILED'}`);
  }
  return failed;
}
