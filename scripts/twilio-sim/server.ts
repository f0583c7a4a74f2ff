// A Twilio-compatible simulator for local runs, the tests and the demo (a dev tool, never product
// code). It speaks Twilio's REST protocol: Create Call (form-encoded, HTTP Basic auth, Twilio's
// validation and error bodies) and Fetch Call; then it sends signed status callbacks (the
// X-Twilio-Signature scheme) with a realistic outcome mix and timing, scaled by timeScale and
// replayable with a seed. It injects faults: latency, 429 (code 20429, Retry-After), 500, 503,
// requests left hanging, an outage, dropped / duplicated / reordered callbacks, per-number rules.
// Status callbacks only ever go to loopback addresses: this machine sends nothing off-box.
//
//   tsx scripts/twilio-sim/server.ts [--port 0] [--seed 42] [--time-scale 0.1] [--faults '{"rate429":0.1}']
//
// prints one JSON line {"event":"twilio_sim_listening","url":...,"accountSid":...,"authToken":...}.
//
// This file composes the parts and listens: options.ts (options and flags), state.ts (the shared
// state every part is handed), rest.ts (the REST API), callbacks.ts (timelines and status
// callbacks), faults.ts (fault knobs and their effects), respond.ts (answers and latency),
// control.ts (the control API below), vapi.ts / retell.ts (the other platforms, on the same port).
//
// Control API (loopback, no auth, JSON):
//   GET  /__sim/stats          counters (see SimStats)
//   GET  /__sim/calls          every call with its callbacks
//   GET  /__sim/arrivals       arrival time (epoch ms, sub-millisecond) of every create-call request
//   GET  /__sim/rate?windowMs=1000   the most create-call requests in any window [t, t + windowMs)
//   GET  /__sim/faults         the fault settings in force
//   POST /__sim/faults         merge settings (null removes one); PUT replaces them all
//   POST /__sim/reset          forget calls and counters, cancel pending callbacks, faults back to
//                              the start options, PRNG re-seeded (body {"seed": N}: with N from now on)
//   GET  /__sim/vapi/stats|calls|faults, POST /__sim/vapi/faults (merge), POST /__sim/vapi/event-url
//                              {"url"}: the same for the Vapi part (vapi.ts); /__sim/retell/...: Retell's

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, maxRequestsInWindow, type SimFaults, type SimFaultsPatch } from './core.ts';
import { type ControlTarget, handleControl } from './control.ts';
import { clearFaults, currentFaults, setFaults } from './faults.ts';
import { parseCli, resolveOptions, type SimOptions } from './options.ts';
import type { PlatformSimulator } from './platform.ts';
import { json } from './respond.ts';
import { handleRest } from './rest.ts';
import { startRetellSimulator } from './retell.ts';
import { cancelEverything, createState, freshStats, type SimCall, type SimStats, wakeIdleWaiters } from './state.ts';
import { startVapiSimulator } from './vapi.ts';

export type { FaultKind, NumberRule, SimFaults, SimFaultsPatch, SimOutcome, SimTiming } from './core.ts';
export type { SimOptions } from './options.ts';
export type { PlatformCall, PlatformFaults, PlatformOutcome, PlatformSimulator } from './platform.ts';
export type { SimCall, SimCallback, SimStats } from './state.ts';

export interface TwilioSimulator {
  /** http://127.0.0.1:PORT: the base URL for the Twilio adapter (TWILIO_API_BASE_URL), and for Vapi's and Retell's. */
  url: string;
  /** The Vapi part: its key and server secret, fault knobs, calls (reset() and close() cover it too). */
  vapi: PlatformSimulator & { apiKey: string; serverSecret: string };
  /** The Retell part: its API key (which also signs its events), fault knobs, calls. */
  retell: PlatformSimulator & { apiKey: string };
  accountSid: string;
  authToken: string;
  /** Merges fault settings (null removes one); throws on invalid settings. */
  setFaults(f: SimFaultsPatch): void;
  /** Removes every fault setting. */
  clearFaults(): void;
  faults(): SimFaults;
  stats(): SimStats;
  calls(): SimCall[];
  /**
   * When each create-call request (POST .../Calls.json) arrived, whatever its answer, in arrival
   * order: epoch milliseconds with sub-millisecond precision (performance.timeOrigin + now()).
   */
  createArrivals(): number[];
  /** The most create-call requests that arrived in any half-open window [t, t + windowMs). */
  maxRequestsInWindow(windowMs: number): number;
  /**
   * Forgets calls and counters, cancels pending callbacks, faults back to the start options,
   * re-seeds (with `seed` from now on when given: a new series of decisions on the same port).
   */
  reset(opts?: { seed?: number }): void;
  /** Resolves when every call has ended and every callback was sent (rejects after timeoutMs). */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startTwilioSimulator(opts: SimOptions = {}): Promise<TwilioSimulator> {
  const config = resolveOptions(opts);
  const { host, timeScale, seed } = config;

  const vapiKey = opts.vapi?.apiKey ?? randomBytes(16).toString('hex');
  const vapiSecret = opts.vapi?.serverSecret ?? randomBytes(16).toString('hex');
  const retellKey = opts.retell?.apiKey ?? randomBytes(16).toString('hex');
  const vapi = Object.assign(
    startVapiSimulator({
      apiKey: vapiKey,
      serverSecret: vapiSecret,
      ...(opts.vapi?.serverUrl ? { eventUrl: opts.vapi.serverUrl } : {}),
      ...(opts.vapi?.outcomes ? { outcomes: opts.vapi.outcomes } : {}),
      ...(opts.vapi?.organisations ? { organisations: opts.vapi.organisations } : {}),
      timeScale,
      seed,
    }),
    { apiKey: vapiKey, serverSecret: vapiSecret },
  );
  const retell = Object.assign(
    startRetellSimulator({
      apiKey: retellKey,
      ...(opts.retell?.webhookUrl ? { eventUrl: opts.retell.webhookUrl } : {}),
      ...(opts.retell?.outcomes ? { outcomes: opts.retell.outcomes } : {}),
      ...(opts.retell?.organisations ? { organisations: opts.retell.organisations } : {}),
      timeScale,
      seed,
    }),
    { apiKey: retellKey },
  );

  const sim = createState(config);

  // The operations, shared by the returned object and the control API (which needs no url).
  const ops: ControlTarget = {
    accountSid: config.accountSid,
    authToken: config.authToken,
    setFaults: (f) => setFaults(sim, f),
    clearFaults: () => clearFaults(sim),
    faults: () => currentFaults(sim),
    stats: () => structuredClone(sim.stats),
    calls: () => [...sim.calls.values()].map((s) => structuredClone(s.call)),
    createArrivals: () => [...sim.arrivals],
    maxRequestsInWindow: (windowMs) => maxRequestsInWindow(sim.arrivals, windowMs),
    vapi,
    retell,
    reset: (o = {}) => {
      cancelEverything(sim);
      vapi.reset();
      retell.reset();
      if (o.seed !== undefined) sim.seed = o.seed;
      sim.rng = createRng(sim.seed);
      sim.faults = structuredClone(config.startFaults);
      sim.stats = freshStats();
      sim.arrivals = [];
      sim.calls = new Map();
      wakeIdleWaiters(sim);
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(d);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (sim.closed) return void res.destroy();
      const url = new URL(req.url ?? '/', 'http://sim.invalid');
      if (tooBig) return json(res, 413, { error: 'body too large' });
      const body = Buffer.concat(chunks).toString('utf8');
      if (url.pathname.startsWith('/__sim/')) {
        return handleControl(sim, ops, req, res, url.pathname, url.searchParams, body);
      }
      // Vapi's and Retell's APIs (their own paths, keys and fault knobs).
      if (vapi.handle(req, res, url.pathname, body) || retell.handle(req, res, url.pathname, body)) return;
      handleRest(sim, req, res, url, body);
    });
  });
  server.keepAliveTimeout = 5_000;
  // Hanging requests must hang until the client gives up, not until Node's request timeout.
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    ...ops,
    settled: (timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (sim.stats.callbacksPending === 0 || sim.closed) return resolve();
        const timer = setTimeout(() => {
          sim.idleWaiters = sim.idleWaiters.filter((w) => w !== done);
          reject(new Error(`simulator not settled within ${timeoutMs} ms (${sim.stats.callbacksPending} steps pending)`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        sim.idleWaiters.push(done);
      }),
    close: async () => {
      if (sim.closed) return;
      sim.closed = true;
      cancelEverything(sim);
      vapi.close();
      retell.close();
      for (const t of sim.answerTimers) clearTimeout(t);
      sim.answerTimers.clear();
      sim.shutdown.abort();
      wakeIdleWaiters(sim);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// --- CLI ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cli = parseCli(process.argv.slice(2));
  if ('exitCode' in cli) return cli.exitCode;
  const sim = await startTwilioSimulator(cli.options);
  process.stdout.write(
    `${
      JSON.stringify({
        event: 'twilio_sim_listening',
        url: sim.url,
        accountSid: sim.accountSid,
        authToken: sim.authToken,
        vapiApiKey: sim.vapi.apiKey,
        vapiServerSecret: sim.vapi.serverSecret,
        retellApiKey: sim.retell.apiKey,
      })
    }\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.close();
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
