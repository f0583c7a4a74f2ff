// `npm run lint`: `supabase db lint` (plpgsql_check, level warning) over the migrated schema on a
// throwaway cluster (or DATABASE_URL), `deno fmt --check`, `deno lint`, and `deno check` over the Edge
// Functions (scripts/stack/deno-tools.ts). Any finding fails.

import { bootstrapSupabaseShape, installTestExtensions, lintDatabase, pushMigrations, startLocalDb } from './stack/localdb.ts';
import { denoCheck, denoFmt, denoLint } from './stack/deno-tools.ts';
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

let ok = false;
try {
  const db = await dbLint();
  const fmt = denoFmt(log);
  const lint = denoLint(log);
  const check = denoCheck(log);
  ok = db && fmt && lint && check;
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
}
process.exitCode = ok ? 0 : 1;
