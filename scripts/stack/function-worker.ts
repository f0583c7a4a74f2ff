// One Edge Function in its own Web Worker (its own isolate), the way Supabase's edge runtime runs
// each function: the gateway (functions-serve.ts) posts the function's index.ts; this module
// provides what the edge runtime provides, then imports it unmodified.
//
//   - Deno.serve(handler) listens on a free loopback port and tells the gateway which; the gateway
//     proxies /functions/v1/<name>/... to it.
//   - EdgeRuntime.waitUntil(promise): keeps the promise alive after the response is sent (the
//     worker waits for it before it closes); a rejection is logged, never thrown.
//   - a 'beforeunload' event on globalThis before the worker shuts down (Supabase dispatches it
//     near the wall-clock limit), so background work can wind up.
//
// Messages: in {type:'start', module, name}, {type:'shutdown'}; out {type:'listening', port},
// {type:'closed'}.

/// <reference lib="deno.worker" />

interface StartMessage {
  type: 'start';
  module: string;
  name: string;
}

const pending = new Set<Promise<unknown>>();
const servers: Deno.HttpServer[] = [];
let functionName = '';

function logLine(level: 'warn' | 'error', event: string, fields: Record<string, unknown>): void {
  console.error(JSON.stringify({ ts: new Date().toISOString(), level, service: functionName, event, ...fields }));
}

Object.defineProperty(globalThis, 'EdgeRuntime', {
  value: Object.freeze({
    waitUntil<T>(promise: Promise<T>): Promise<T> {
      const kept: Promise<unknown> = Promise.resolve(promise)
        .catch((err: unknown) =>
          logLine('error', 'wait_until_rejected', { error: err instanceof Error ? err.message : String(err) })
        )
        .finally(() => pending.delete(kept));
      pending.add(kept);
      return promise;
    },
  }),
  enumerable: false,
  writable: false,
  configurable: false,
});

type ServeHandler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>;

const realServe = Deno.serve.bind(Deno);
// The function calls Deno.serve(handler) (or with options): whatever address it asks for, it
// listens on a free loopback port, as the edge runtime decides where a function listens.
const serve = (...args: unknown[]): Deno.HttpServer => {
  const options = (args.find((a) => a !== null && typeof a === 'object') ?? {}) as { handler?: ServeHandler };
  const handler = (args.find((a) => typeof a === 'function') as ServeHandler | undefined) ?? options.handler;
  if (!handler) throw new TypeError('Deno.serve needs a handler');
  const server = realServe(
    {
      hostname: '127.0.0.1',
      port: 0,
      onListen: ({ port }) => self.postMessage({ type: 'listening', port }),
    },
    handler,
  );
  servers.push(server);
  return server;
};
Object.defineProperty(Deno, 'serve', { value: serve, writable: true, configurable: true });

self.onmessage = async (e: MessageEvent<StartMessage | { type: 'shutdown' }>) => {
  const msg = e.data;
  if (msg.type === 'start') {
    functionName = msg.name;
    await import(msg.module);
    if (servers.length === 0) throw new Error(`${msg.name}/index.ts did not call Deno.serve`);
  } else if (msg.type === 'shutdown') {
    // As Supabase's edge runtime does before it shuts an isolate down: background work may wind up.
    globalThis.dispatchEvent(new Event('beforeunload'));
    await Promise.allSettled(servers.map((s) => s.shutdown()));
    await Promise.allSettled([...pending]);
    self.postMessage({ type: 'closed' });
  }
};
