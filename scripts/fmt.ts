// `npm run fmt`: formats every TypeScript and JavaScript file with deno fmt (settings in
// scripts/stack/deno-tools.ts; `npm test` checks the same).
import { denoFmt } from './stack/deno-tools.ts';

process.exitCode = denoFmt((s) => process.stderr.write(`[fmt] ${s}\n`), { write: true }) ? 0 : 1;
