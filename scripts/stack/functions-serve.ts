// Local Edge Functions gateway (Deno): serves each function's own index.ts under
// /functions/v1/<name>, the way Supabase does (one isolate per function), for npm start and the
// tests (supabase functions serve needs Docker).
//
//   deno run -A --config supabase/functions/deno.json scripts/stack/functions-serve.ts [--port N] [--host H]
//     [--functions-dir DIR]   (default supabase/functions; the tests point it at scratch functions)
//
// Every folder of supabase/functions without a leading underscore that has an index.ts is a
// function. Each runs in its own Web Worker (function-worker.ts): its index.ts is imported
// unmodified, its Deno.serve listens on a free loopback port, and this gateway proxies requests to
// it. The worker also provides EdgeRuntime.waitUntil, as Supabase's edge runtime does.
//
// Prints one JSON line {"event":"functions_listening","url":...} once every function listens. The
// environment is the functions' own (CRON_SECRET, SUPABASE_DB_URL, TWILIO_*, ...), shared by all of
// them as in a Supabase project; PUBLIC_FUNCTIONS_URL defaults to the gateway's own URL.

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const dirArg = arg('functions-dir');
const FUNCTIONS_DIR = dirArg
  ? new URL(`file://${(dirArg.startsWith('/') ? dirArg : `${Deno.cwd()}/${dirArg}`).replace(/\/*$/, '/')}`)
  : new URL('../../supabase/functions/', import.meta.url);

function functionNames(): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(FUNCTIONS_DIR)) {
    if (!entry.isDirectory || entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    try {
      Deno.statSync(new URL(`${entry.name}/index.ts`, FUNCTIONS_DIR));
      names.push(entry.name);
    } catch {
      // not a function
    }
  }
  return names.sort();
}

interface RunningFunction {
  name: string;
  worker: Worker;
  /** The loopback port its Deno.serve listens on; null until it listens (or when it failed to start). */
  port: number | null;
  failure: string | null;
}

function log(level: 'info' | 'error', event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ ts: new Date().toISOString(), level, service: 'functions-gateway', event, ...fields });
  if (level === 'error') console.error(line);
  else console.log(line);
}

/** Starts one function in its own worker; resolves once it listens or failed to start. */
function startFunction(name: string): Promise<RunningFunction> {
  const worker = new Worker(new URL('./function-worker.ts', import.meta.url), { type: 'module', name });
  const fn: RunningFunction = { name, worker, port: null, failure: null };
  return new Promise((resolve) => {
    worker.onmessage = (e: MessageEvent<{ type: string; port?: number }>) => {
      if (e.data.type === 'listening' && fn.port === null) {
        fn.port = e.data.port ?? null;
        resolve(fn);
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      fn.failure = e.message;
      log('error', 'function_boot_error', { function: name, error: e.message });
      resolve(fn);
    };
    worker.postMessage({ type: 'start', module: new URL(`${name}/index.ts`, FUNCTIONS_DIR).href, name });
  });
}

/** Asks a worker to stop serving and to finish its EdgeRuntime.waitUntil work, then ends it. */
function stopFunction(fn: RunningFunction, timeoutMs: number): Promise<void> {
  if (fn.failure !== null || fn.port === null) {
    fn.worker.terminate(); // it never served
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      fn.worker.terminate();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    fn.worker.onmessage = (e: MessageEvent<{ type: string }>) => {
      if (e.data.type === 'closed') done();
    };
    fn.worker.postMessage({ type: 'shutdown' });
  });
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

// Headers that belong to one connection, not to the request.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

async function proxy(req: Request, fn: RunningFunction, client: string): Promise<Response> {
  if (fn.port === null) return json(503, { error: 'function_unavailable', function: fn.name });
  const url = new URL(req.url);
  const headers = new Headers(req.headers);
  for (const h of HOP_BY_HOP) headers.delete(h);
  // As a platform's proxy does: the client's address appended to X-Forwarded-For.
  const forwarded = headers.get('x-forwarded-for');
  headers.set('x-forwarded-for', forwarded ? `${forwarded}, ${client}` : client);
  try {
    return await fetch(`http://127.0.0.1:${fn.port}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body,
      redirect: 'manual',
      signal: req.signal,
    });
  } catch (err) {
    if (req.signal.aborted) return json(499, { error: 'client_closed_request' });
    log('error', 'function_unreachable', { function: fn.name, error: err instanceof Error ? err.message : String(err) });
    return json(502, { error: 'function_unreachable', function: fn.name });
  }
}

const host = arg('host') ?? Deno.env.get('FUNCTIONS_HOST') ?? '127.0.0.1';
const port = Number(arg('port') ?? Deno.env.get('FUNCTIONS_PORT') ?? '0');
const names = functionNames();
const running = new Map<string, RunningFunction>();

const listening = Promise.withResolvers<number>();
const server = Deno.serve({ hostname: host, port, onListen: ({ port: actual }) => listening.resolve(actual) }, (req, info) => {
  const match = /^\/functions\/v1\/([a-z0-9_-]+)(?:\/.*)?$/.exec(new URL(req.url).pathname);
  const fn = match?.[1] ? running.get(match[1]) : undefined;
  if (!fn) return json(404, { error: 'not_found' });
  const remote = info.remoteAddr as { hostname?: string };
  return proxy(req, fn, remote.hostname ?? 'unknown');
});
const url = `http://${host}:${await listening.promise}/functions/v1`;
// The workers read the environment when their index.ts loads: set the default before they start.
if (!Deno.env.get('PUBLIC_FUNCTIONS_URL')) Deno.env.set('PUBLIC_FUNCTIONS_URL', url);
for (const fn of await Promise.all(names.map(startFunction))) running.set(fn.name, fn);
console.log(JSON.stringify({ event: 'functions_listening', url, functions: names }));

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await server.shutdown();
  await Promise.all([...running.values()].map((fn) => stopFunction(fn, 5_000)));
  Deno.exit(0);
};
Deno.addSignalListener('SIGTERM', shutdown);
Deno.addSignalListener('SIGINT', shutdown);
