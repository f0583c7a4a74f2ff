// How the Edge Functions gateway (functions-serve.ts, each function's index.ts in its own worker)
// is started under Deno: by `npm start` (stack.ts) and by the tests (test/support/functions.ts)
// alike, so both run the functions the same way. Each chooses the environment the functions see.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Deno of the `deno` npm package. */
export const DENO_BIN = path.join(ROOT, 'node_modules', '.bin', 'deno');

/**
 * `deno` arguments that serve the functions on 127.0.0.1:port (0: a free one, announced in its
 * `functions_listening` line) with the functions' deno.json; run from the repository root.
 */
export function gatewayArgs(port: number, opts: { functionsDir?: string } = {}): string[] {
  return [
    'run',
    '-A',
    '--quiet',
    '--config',
    'supabase/functions/deno.json',
    'scripts/stack/functions-serve.ts',
    '--port',
    String(port),
    ...(opts.functionsDir ? ['--functions-dir', opts.functionsDir] : []),
  ];
}
