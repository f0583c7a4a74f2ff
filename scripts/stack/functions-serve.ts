// Local Edge Functions gateway (Deno): serves every function under /functions/v1/<name>, the way
// Supabase does, for npm start and the tests (supabase functions serve needs Docker).
//
//   deno run -A --config supabase/functions/deno.json scripts/stack/functions-serve.ts [--port N] [--host H]
//
// Prints one JSON line {"event":"functions_listening","url":...} once it listens. The environment
// is the functions' own (CRON_SECRET, SUPABASE_DB_URL, TWILIO_*, ...); PUBLIC_FUNCTIONS_URL defaults
// to the gateway's own URL.

import { buildFunctions, FUNCTION_NAMES, type BuiltFunctions, type FunctionName } from '../../supabase/functions/_shared/app.ts';

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const host = arg('host') ?? Deno.env.get('FUNCTIONS_HOST') ?? '127.0.0.1';
const port = Number(arg('port') ?? Deno.env.get('FUNCTIONS_PORT') ?? '0');
let built: BuiltFunctions | null = null;

const notFound = () =>
  new Response(JSON.stringify({ error: 'not_found' }), { status: 404, headers: { 'content-type': 'application/json' } });

const server = Deno.serve(
  {
    hostname: host,
    port,
    onListen: ({ port: actual }) => {
      const url = `http://${host}:${actual}/functions/v1`;
      const env = Deno.env.toObject();
      built = buildFunctions({ PUBLIC_FUNCTIONS_URL: url, ...env });
      console.log(JSON.stringify({ event: 'functions_listening', url, functions: FUNCTION_NAMES }));
    },
  },
  (req) => {
    const match = /^\/functions\/v1\/([a-z0-9-]+)(?:\/.*)?$/.exec(new URL(req.url).pathname);
    const name = match?.[1];
    if (!built || !name || !(FUNCTION_NAMES as readonly string[]).includes(name)) return notFound();
    return built.handlers[name as FunctionName](req);
  },
);

const shutdown = async () => {
  await server.shutdown();
  await built?.close();
  Deno.exit(0);
};
Deno.addSignalListener('SIGTERM', shutdown);
Deno.addSignalListener('SIGINT', shutdown);
