// A Twilio-compatible simulator for local runs, the tests and the benchmark (a dev tool, not
// product code). It serves Twilio's Create Call endpoint with Twilio's validation, answers like
// Twilio, then sends signed status callbacks with a realistic outcome mix and timing; it can inject
// faults: latency, 429 (code 20429), 500, 503, hanging requests, an outage, dropped, duplicated and
// reordered callbacks. Callbacks only ever go to loopback addresses.
//
//   tsx scripts/twilio-sim.ts [--port N] [--time-scale 0.1] [--seed 42]
//
// prints {"event":"twilio_sim_listening","url":...,"accountSid":...,"authToken":...}.
// Control API: POST /__sim/faults (JSON, merged), GET /__sim/stats, GET /__sim/calls, POST /__sim/reset.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { computeTwilioSignature } from '../supabase/functions/_shared/twilio.ts';

export interface SimFaults {
  /** Delay before answering a create request (the call is created first), ms or [min, max]. */
  latencyMs?: number | [number, number];
  /** Probabilities per create request. */
  rate429?: number; // not created, 429 code 20429 with Retry-After
  rate503?: number; // not created
  rate500?: number; // CREATED, then 500: the client cannot know
  hangRate?: number; // CREATED, the request is never answered
  /** Every create request gets 503 (not created). */
  outage?: boolean;
  /** Seconds in the Retry-After header of 429s. */
  retryAfterSeconds?: number;
  /** Probabilities per callback. */
  dropCallbackRate?: number;
  duplicateCallbackRate?: number;
  /** Send each call's final callback first, then the earlier ones. */
  reorderCallbacks?: boolean;
}

export interface SimOptions {
  port?: number;
  host?: string;
  accountSid?: string;
  authToken?: string;
  seed?: number;
  /** Multiplies every simulated call duration (ring, talk); 0.01 makes calls 100x shorter. */
  timeScale?: number;
  /** Relative weights of call outcomes. */
  outcomes?: Partial<Record<'completed' | 'no-answer' | 'busy' | 'failed', number>>;
  ringMs?: [number, number];
  talkMs?: [number, number];
  /** Numbers Twilio refuses as invalid (code 21217); +15005550001 (Twilio's magic invalid number) always is. */
  invalidNumbers?: string[];
  /** Send status callbacks at all (off for pure throughput runs). */
  callbacks?: boolean;
  faults?: SimFaults;
}

export interface SimCall {
  sid: string;
  to: string;
  from: string;
  statusCallback: string | null;
  events: string[];
  outcome: string;
  createdAt: number;
  idempotencyToken: string | null;
  callbacks: Array<{ status: string; sequence: number; delivered: boolean; httpStatus?: number }>;
}

export interface SimStats {
  createRequests: number;
  created: number;
  rejected: Record<string, number>;
  createdPerNumber: Record<string, number>;
  callbacksSent: number;
  callbacksDelivered: number;
  callbacksFailed: number;
  callbacksDropped: number;
  callbacksDuplicated: number;
  hanging: number;
}

export interface TwilioSimulator {
  url: string;
  accountSid: string;
  authToken: string;
  setFaults(f: SimFaults): void;
  clearFaults(): void;
  stats(): SimStats;
  calls(): SimCall[];
  reset(): void;
  close(): Promise<void>;
}

const E164 = /^\+[1-9][0-9]{6,14}$/;
const ALLOWED = new Set([
  'To', 'From', 'Url', 'Twiml', 'ApplicationSid', 'Method', 'FallbackUrl', 'FallbackMethod',
  'StatusCallback', 'StatusCallbackMethod', 'StatusCallbackEvent', 'MachineDetection', 'Timeout', 'Record',
  'CallerId', 'SendDigits', 'TimeLimit',
]);
const EVENTS = new Set(['initiated', 'ringing', 'answered', 'completed']);

/** Small seeded PRNG (mulberry32) so a seed replays the same outcomes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function isLoopback(u: URL): boolean {
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function freshStats(): SimStats {
  return {
    createRequests: 0, created: 0, rejected: {}, createdPerNumber: {}, callbacksSent: 0, callbacksDelivered: 0,
    callbacksFailed: 0, callbacksDropped: 0, callbacksDuplicated: 0, hanging: 0,
  };
}

export async function startTwilioSimulator(opts: SimOptions = {}): Promise<TwilioSimulator> {
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = opts.authToken ?? randomBytes(16).toString('hex');
  const random = prng(opts.seed ?? 1);
  const timeScale = opts.timeScale ?? 1;
  const ringMs = opts.ringMs ?? [1000, 4000];
  const talkMs = opts.talkMs ?? [5000, 40000];
  const weights = { completed: 60, 'no-answer': 20, busy: 10, failed: 10, ...opts.outcomes };
  const invalid = new Set(['+15005550001', ...(opts.invalidNumbers ?? [])]);
  const sendCallbacks = opts.callbacks ?? true;
  let faults: SimFaults = { ...opts.faults };
  let stats = freshStats();
  let calls: SimCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<http.ServerResponse>();
  let closed = false;

  const later = (ms: number, fn: () => void) => {
    if (closed) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, Math.max(0, ms));
    timers.add(t);
  };
  const between = ([lo, hi]: [number, number]) => lo + random() * (hi - lo);
  const pickOutcome = (): string => {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    let r = random() * total;
    for (const [k, w] of Object.entries(weights)) {
      if ((r -= w) < 0) return k;
    }
    return 'completed';
  };
  const sidOf = () => `CA${randomBytes(16).toString('hex')}`;

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const twilioError = (res: http.ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}) => {
    stats.rejected[String(code)] = (stats.rejected[String(code)] ?? 0) + 1;
    json(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
  };
  const resource = (c: SimCall, status: string) => ({
    sid: c.sid,
    account_sid: accountSid,
    to: c.to,
    from: c.from,
    status,
    direction: 'outbound-api',
    api_version: '2010-04-01',
    date_created: new Date(c.createdAt).toUTCString(),
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${c.sid}.json`,
  });

  async function deliver(call: SimCall, status: string, sequence: number, extra: Record<string, string>): Promise<void> {
    if (!call.statusCallback) return;
    const target = new URL(call.statusCallback);
    if (!isLoopback(target)) return; // never send traffic off this machine
    const params = new URLSearchParams({
      AccountSid: accountSid, ApiVersion: '2010-04-01', CallSid: call.sid, CallStatus: status,
      CallbackSource: 'call-progress-events', Direction: 'outbound-api', From: call.from, To: call.to,
      SequenceNumber: String(sequence), Timestamp: new Date().toUTCString(), ...extra,
    });
    const signature = await computeTwilioSignature(authToken, call.statusCallback, params);
    stats.callbacksSent++;
    const entry: SimCall['callbacks'][number] = { status, sequence, delivered: false };
    call.callbacks.push(entry);
    try {
      const res = await fetch(call.statusCallback, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
        body: params.toString(),
        signal: AbortSignal.timeout(15_000),
      });
      await res.arrayBuffer();
      entry.httpStatus = res.status;
      entry.delivered = res.ok;
      if (res.ok) stats.callbacksDelivered++;
      else stats.callbacksFailed++;
    } catch {
      stats.callbacksFailed++;
    }
  }

  function scheduleCallbacks(call: SimCall): void {
    if (!sendCallbacks || !call.statusCallback) return;
    const steps: Array<{ at: number; event: string; status: string; extra?: Record<string, string> }> = [];
    const ring = between(ringMs) * timeScale;
    steps.push({ at: 0, event: 'initiated', status: 'initiated' });
    if (call.outcome !== 'failed') steps.push({ at: ring * 0.3, event: 'ringing', status: 'ringing' });
    if (call.outcome === 'completed') {
      const talk = between(talkMs) * timeScale;
      steps.push({ at: ring, event: 'answered', status: 'in-progress' });
      steps.push({ at: ring + talk, event: 'completed', status: 'completed', extra: { CallDuration: String(Math.round(talk / Math.max(timeScale, 1e-6) / 1000)) } });
    } else {
      steps.push({ at: ring, event: 'completed', status: call.outcome, extra: { CallDuration: '0' } });
    }
    let subscribed = steps.filter((s) => call.events.includes(s.event));
    if (faults.reorderCallbacks && subscribed.length > 1) {
      // final first, the rest after it, all shortly after the final's time
      const last = subscribed[subscribed.length - 1]!;
      subscribed = [last, ...subscribed.slice(0, -1)].map((s, i) => ({ ...s, at: last.at + i * 5 }));
    }
    subscribed.forEach((s, i) => {
      const sequence = i;
      if (random() < (faults.dropCallbackRate ?? 0)) {
        stats.callbacksDropped++;
        return;
      }
      later(s.at, () => void deliver(call, s.status, sequence, s.extra ?? {}));
      if (random() < (faults.duplicateCallbackRate ?? 0)) {
        stats.callbacksDuplicated++;
        later(s.at + 10, () => void deliver(call, s.status, sequence, s.extra ?? {}));
      }
    });
  }

  function createCall(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    stats.createRequests++;
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/x-www-form-urlencoded/i.test(type)) {
      return twilioError(res, 400, 20001, 'Content-Type must be application/x-www-form-urlencoded');
    }
    const params = new URLSearchParams(body);
    for (const key of new Set(params.keys())) {
      if (!ALLOWED.has(key)) return twilioError(res, 400, 20001, `Unknown parameter: ${key}`);
    }
    const to = params.get('To') ?? '';
    const from = params.get('From') ?? '';
    if (!to) return twilioError(res, 400, 21201, "No 'To' number is specified");
    if (!E164.test(to)) return twilioError(res, 400, 21211, `Invalid 'To' Phone Number: ${to.slice(0, 20)}`);
    if (!from) return twilioError(res, 400, 21213, "No 'From' number is specified");
    if (!E164.test(from)) return twilioError(res, 400, 21212, `Invalid 'From' Phone Number: ${from.slice(0, 20)}`);
    const actions = ['Url', 'Twiml', 'ApplicationSid'].filter((k) => params.get(k));
    if (actions.length !== 1) {
      return twilioError(res, 400, 21205, 'Exactly one of Url, Twiml or ApplicationSid is required');
    }
    const events = params.getAll('StatusCallbackEvent');
    for (const e of events) if (!EVENTS.has(e)) return twilioError(res, 400, 21626, `Invalid StatusCallbackEvent: ${e.slice(0, 20)}`);
    const statusCallback = params.get('StatusCallback');
    if (statusCallback) {
      try {
        new URL(statusCallback);
      } catch {
        return twilioError(res, 400, 21609, 'Invalid StatusCallback URL');
      }
    }
    if (invalid.has(to)) return twilioError(res, 400, 21217, `Phone number ${to} is not a valid phone number`);

    if (faults.outage) return twilioError(res, 503, 20503, 'Service Unavailable');
    if (random() < (faults.rate429 ?? 0)) {
      return twilioError(res, 429, 20429, 'Too Many Requests', { 'retry-after': String(faults.retryAfterSeconds ?? 1) });
    }
    if (random() < (faults.rate503 ?? 0)) return twilioError(res, 503, 20503, 'Service Unavailable');

    const call: SimCall = {
      sid: sidOf(), to, from, statusCallback, events: events.length > 0 ? events : ['completed'], outcome: pickOutcome(),
      createdAt: Date.now(), idempotencyToken: (req.headers['i-twilio-idempotency-token'] as string | undefined) ?? null, callbacks: [],
    };
    calls.push(call);
    stats.created++;
    stats.createdPerNumber[to] = (stats.createdPerNumber[to] ?? 0) + 1;
    scheduleCallbacks(call);

    if (random() < (faults.hangRate ?? 0)) {
      stats.hanging++;
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return; // never answered
    }
    const fail500 = random() < (faults.rate500 ?? 0);
    const latency = Array.isArray(faults.latencyMs) ? between(faults.latencyMs) : faults.latencyMs ?? 0;
    const answer = () => {
      if (res.writableEnded || res.destroyed) return;
      if (fail500) return twilioError(res, 500, 20500, 'Internal Server Error');
      json(res, 201, resource(call, 'queued'));
    };
    if (latency > 0) later(latency, answer);
    else answer();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > 1_000_000) req.destroy();
      else chunks.push(d);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://sim');
      const path = url.pathname;
      if (path === '/__sim/stats' && req.method === 'GET') return json(res, 200, stats);
      if (path === '/__sim/calls' && req.method === 'GET') return json(res, 200, calls);
      if (path === '/__sim/reset' && req.method === 'POST') {
        api.reset();
        return json(res, 200, { ok: true });
      }
      if (path === '/__sim/faults' && req.method === 'POST') {
        try {
          api.setFaults(JSON.parse(body || '{}') as SimFaults);
          return json(res, 200, faults);
        } catch {
          return json(res, 400, { error: 'invalid JSON' });
        }
      }
      const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls(?:\/([^/]+))?\.json$/.exec(path);
      if (!m) return twilioError(res, 404, 20404, 'The requested resource was not found');
      const auth = req.headers.authorization ?? '';
      const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
      if (auth !== expected || m[1] !== accountSid) return twilioError(res, 401, 20003, 'Authenticate');
      if (m[2] && req.method === 'GET') {
        const c = calls.find((x) => x.sid === m[2]);
        return c ? json(res, 200, resource(c, c.callbacks.at(-1)?.status ?? 'queued')) : twilioError(res, 404, 20404, 'The requested resource was not found');
      }
      if (!m[2] && req.method === 'POST') return createCall(req, res, body);
      return twilioError(res, 405, 20004, 'Method not allowed');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const api: TwilioSimulator = {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    accountSid,
    authToken,
    setFaults: (f) => {
      faults = { ...faults, ...f };
    },
    clearFaults: () => {
      faults = {};
    },
    stats: () => structuredClone(stats),
    calls: () => calls.map((c) => ({ ...c, callbacks: [...c.callbacks] })),
    reset: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      stats = freshStats();
      calls = [];
      faults = {};
    },
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const sim = await startTwilioSimulator({
    port: Number(arg('port') ?? 0),
    ...(arg('time-scale') ? { timeScale: Number(arg('time-scale')) } : {}),
    ...(arg('seed') ? { seed: Number(arg('seed')) } : {}),
  });
  console.log(JSON.stringify({ event: 'twilio_sim_listening', url: sim.url, accountSid: sim.accountSid, authToken: sim.authToken }));
  const stop = async () => {
    await sim.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
