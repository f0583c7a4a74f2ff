// `npm run lint`: `supabase db lint` (plpgsql_check, level warning) over the migrated schema on a
// throwaway cluster (or DATABASE_URL), and `deno check` over the Edge Functions. Any finding fails.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  REPO_ROOT,
  bootstrapSupabaseShape,
  installTestExtensions,
  lintDatabase,
  pushMigrations,
  startLocalDb,
} from './stack/localdb.ts';
import { ensurePrerequisites } from './stack/prereqs.ts';

const log = (s: string) => process.stderr.write(`[lint] ${s}\n`);

async function dbLint(): Promise<boolean> {
  await ensurePrerequisites('lint', { log });
  const db = await startLocalDb({ persistent: false, log });
  try {
    await bootstrapSupabaseShape(db.url);
    await installTestExtensions(db.url);
    await pushMigrations(db.url, { log });
    const r = await lintDatabase(db.url);
    process.stdout.write(`${r.output}\n`);
    log(r.ok ? 'db lint: no findings' : 'db lint: FAILED');
    return r.ok;
  } finally {
    await db.stop();
  }
}

function denoCheck(): boolean {
  const functionsDir = path.join(REPO_ROOT, 'supabase', 'functions');
  const entries = existsSync(functionsDir)
    ? readdirSync(functionsDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith('_'))
        .map((d) => path.join('supabase', 'functions', d.name, 'index.ts'))
        .filter((f) => existsSync(path.join(REPO_ROOT, f)))
    : [];
  if (existsSync(path.join(REPO_ROOT, 'scripts', 'stack', 'functions-serve.ts'))) entries.push('scripts/stack/functions-serve.ts');
  if (entries.length === 0) {
    log('deno check: no Edge Functions yet');
    return true;
  }
  const config = path.join('supabase', 'functions', 'deno.json');
  const args = ['deno', 'check', ...(existsSync(path.join(REPO_ROOT, config)) ? ['--config', config] : []), ...entries];
  log(`npx ${args.join(' ')}`);
  const r = spawnSync('npx', args, { cwd: REPO_ROOT, stdio: 'inherit' });
  log(r.status === 0 ? 'deno check: ok' : 'deno check: FAILED');
  return r.status === 0;
}

let ok = false;
try {
  const db = await dbLint();
  const deno = denoCheck();
  ok = db && deno;
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
}
process.exitCode = ok ? 0 : 1;
