// What the Vapi and Retell simulators share (a dev tool, never product code): a JSON create-call
// API behind a bearer key, the same fault knobs as the Twilio part (latency, 429 with Retry-After,
// 500, 503, requests left hanging, an outage, a script of answers, per-number rules: refused
// numbers, forced outcomes, machine answers), a call timeline scaled by timeScale and seeded, and
// events POSTed as JSON to the one URL the platform is configured with (its server URL / webhook
// URL; loopback only, as the Twilio part). Several organisations (accounts at the platform) can
// share one simulator: each has its own API key and event key, sees only its own calls, and its
// calls' events are authenticated with its own event key. The platform modules (vapi.ts, retell.ts) say how a
// request is read, how a call and an error look, and which events a call sends; server.ts mounts
// them on the Twilio simulator's port.

import type http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { between, createRng, isLoopbackHost } from './core.ts';

/** How a simulated call ends; 'voicemail' is answered by a machine. */
export type PlatformOutcome = 'completed' | 'no-answer' | 'busy' | 'failed' | 'voicemail';

/** An E.164 number as the platforms' create requests must carry it. */
export const PLATFORM_E164 = /^\+[1-9][0-9]{6,14}$/;

/** A SHA-256 digest of the next seeded random number: the raw material of a call id. */
export function seededDigest(rng: () => number, encoding: 'hex' | 'base64url'): string {
  return createHash('sha256').update(String(rng())).digest(encoding);
}

const rate = z.number().min(0).max(1);
const ms = z.number().min(0).max(3_600_000);

export const PlatformFaultsSchema = z
  .object({
    latencyMs: z.union([ms, z.tuple([ms, ms])]).optional(),
    rate429: rate.optional(),
    rate503: rate.optional(),
    rate500: rate.optional(),
    hangRate: rate.optional(),
    outage: z.boolean().optional(),
    retryAfterSeconds: z.number().min(0).max(3600).optional(),
    /** Whether an injected 500 or a hang still creates the call (default true: the worst case). */
    ambiguousCreates: z.boolean().optional(),
    script: z.array(z.enum(['ok', '429', '500', '503', 'hang'])).max(10_000).optional(),
    dropEventRate: rate.optional(),
    numbers: z.array(
      z.object({
        /** An exact number, '*' + a suffix, or '*'. */
        match: z.string().min(1).max(32),
        /** Refuse the create request: HTTP status (default 400) and message. */
        reject: z.object({ status: z.number().int().min(400).max(599).optional(), message: z.string().max(300) }).strict()
          .optional(),
        outcome: z.enum(['completed', 'no-answer', 'busy', 'failed', 'voicemail']).optional(),
      }).strict(),
    ).max(1000).optional(),
  })
  .strict();
export type PlatformFaults = z.infer<typeof PlatformFaultsSchema>;

export interface PlatformCall {
  id: string;
  /** The organisation whose API key created the call ('default': the one of PlatformOptions.apiKey). */
  organisation: string;
  to: string;
  from: string;
  /** The request body as sent (the tests read the metadata and variables from it). */
  request: Record<string, unknown>;
  outcome: PlatformOutcome;
  status: string;
  answeredWith: 201 | 500 | 'hang';
  createdAt: number;
  endedAt: number | null;
  durationMs: number | null;
  events: Array<{ type: string; delivered: boolean; httpStatus?: number; error?: string }>;
}

export interface PlatformStats {
  createRequests: number;
  created: number;
  createdPerNumber: Record<string, number>;
  createdPerOrganisation: Record<string, number>;
  rejected: Record<string, number>;
  injected: Record<string, number>;
  eventsSent: number;
  eventsDelivered: number;
  eventsPending: number;
}

/** One step of a call's life: after `afterMs`, the call's status becomes `status` and `events` are sent. */
export interface PlatformStep {
  afterMs: number;
  status: string;
  final: boolean;
  events: string[];
}

/** What a platform module supplies. */
export interface PlatformProtocol {
  name: string;
  /** Paths: create (POST) and fetch (GET, the id after the prefix). */
  createPath: string;
  fetchPrefix: string;
  /** Reads a create request: the numbers, or a 400/422 answer. */
  readCreate(body: Record<string, unknown>): { to: string; from: string } | { status: number; message: string };
  newId(rng: () => number): string;
  errorBody(status: number, message: string): unknown;
  /** The call resource as the API answers it. */
  resource(call: PlatformCall): Record<string, unknown>;
  /** The timeline of a call with this outcome (unscaled ms). */
  timeline(outcome: PlatformOutcome, rng: () => number): PlatformStep[];
  /** The JSON body of one event. */
  eventBody(type: string, call: PlatformCall, now: number): unknown;
  /** The headers that authenticate an event (raw body given), with the call's organisation's event key. */
  eventHeaders(rawBody: string, now: number, eventKey: string): Record<string, string>;
}

/** An organisation at the platform: the key its API requests carry, and the one its events are authenticated with. */
export interface PlatformOrganisation {
  apiKey: string;
  /** Vapi: the server URL secret; Retell: the webhook key (default apiKey). */
  eventKey?: string;
}

export interface PlatformOptions {
  /** The default organisation's API key. */
  apiKey: string;
  /** The default organisation's event key (default apiKey). */
  eventKey?: string;
  /** More organisations, by name (configuration: kept by reset()). */
  organisations?: Record<string, PlatformOrganisation>;
  /** Where events go (loopback only); none: no events. */
  eventUrl?: string;
  timeScale: number;
  seed: number;
  faults?: PlatformFaults;
  outcomes?: Partial<Record<PlatformOutcome, number>>;
}

export interface PlatformSimulator {
  /** Answers the request when it is this platform's; false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, body: string): boolean;
  setFaults(f: Partial<Record<keyof PlatformFaults, unknown>>): void;
  /** Adds (or replaces) an organisation with its own keys. */
  addOrganisation(name: string, org: PlatformOrganisation): void;
  /** Where events go from now on (loopback only; null: nowhere): the URL is often known only after start. */
  setEventUrl(url: string | null): void;
  faults(): PlatformFaults;
  calls(): PlatformCall[];
  stats(): PlatformStats;
  reset(): void;
  settled(timeoutMs?: number): Promise<void>;
  close(): void;
}

const DEFAULT_WEIGHTS: Record<PlatformOutcome, number> = { completed: 55, 'no-answer': 20, busy: 10, failed: 5, voicemail: 10 };

function freshStats(): PlatformStats {
  return {
    createRequests: 0,
    created: 0,
    createdPerNumber: {},
    createdPerOrganisation: {},
    rejected: {},
    injected: { outage: 0, '429': 0, '500': 0, '503': 0, hang: 0 },
    eventsSent: 0,
    eventsDelivered: 0,
    eventsPending: 0,
  };
}

function matches(rule: { match: string }, to: string): boolean {
  if (rule.match === '*') return true;
  if (rule.match.startsWith('*')) return to.endsWith(rule.match.slice(1));
  return to === rule.match;
}

export function mergePlatformFaults(current: PlatformFaults, patch: unknown): PlatformFaults {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('faults must be a JSON object');
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (!Object.hasOwn(PlatformFaultsSchema.shape, k)) throw new Error(`unknown fault setting: ${k}`);
    if (v === null) delete next[k];
    else if (v !== undefined) next[k] = v;
  }
  return PlatformFaultsSchema.parse(next);
}

export function startPlatform(protocol: PlatformProtocol, opts: PlatformOptions): PlatformSimulator {
  const checkUrl = (u: string | undefined) => {
    if (u && !isLoopbackHost(new URL(u).hostname)) throw new Error(`${protocol.name} events go to loopback only, not ${u}`);
  };
  checkUrl(opts.eventUrl);
  let eventUrl = opts.eventUrl;
  const startFaults = mergePlatformFaults({}, opts.faults ?? {});
  const weights = { ...DEFAULT_WEIGHTS, ...opts.outcomes };
  const organisations = new Map<string, { auth: Buffer; eventKey: string }>();
  const addOrganisation = (name: string, org: PlatformOrganisation) => {
    if (!org.apiKey) throw new Error(`${protocol.name} organisation ${name}: an API key is required`);
    organisations.set(name, { auth: Buffer.from(`Bearer ${org.apiKey}`), eventKey: org.eventKey ?? org.apiKey });
  };
  addOrganisation('default', { apiKey: opts.apiKey, eventKey: opts.eventKey ?? opts.apiKey });
  for (const [name, org] of Object.entries(opts.organisations ?? {})) addOrganisation(name, org);
  /** The organisation a request's Authorization header names (every key compared, in constant time each). */
  const organisationOf = (header: string): string | null => {
    const auth = Buffer.from(header);
    let found: string | null = null;
    for (const [name, org] of organisations) {
      if (auth.length === org.auth.length && timingSafeEqual(auth, org.auth)) found ??= name;
    }
    return found;
  };
  let rng = createRng(opts.seed);
  let faults = structuredClone(startFaults);
  let stats = freshStats();
  let calls = new Map<string, PlatformCall>();
  let generation = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<http.ServerResponse>();
  let waiters: Array<() => void> = [];

  const later = (msDelay: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, Math.max(0, msDelay));
    timers.add(t);
  };
  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const send = () => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const delay = faults.latencyMs === undefined ? 0 : between(rng, faults.latencyMs);
    if (delay <= 0) send();
    else later(delay, send);
  };
  const error = (res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    stats.rejected[String(status)] = (stats.rejected[String(status)] ?? 0) + 1;
    json(res, status, protocol.errorBody(status, message), headers);
  };
  const pendingDone = () => {
    stats.eventsPending = Math.max(0, stats.eventsPending - 1);
    if (stats.eventsPending === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };

  const deliver = async (call: PlatformCall, type: string) => {
    const now = Date.now();
    const raw = JSON.stringify(protocol.eventBody(type, call, now));
    const record: PlatformCall['events'][number] = { type, delivered: false };
    call.events.push(record);
    if ((faults.dropEventRate ?? 0) > 0 && rng() < faults.dropEventRate!) {
      record.error = 'dropped';
      return;
    }
    stats.eventsSent++;
    try {
      const res = await fetch(eventUrl!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...protocol.eventHeaders(raw, now, organisations.get(call.organisation)?.eventKey ?? ''),
        },
        body: raw,
        signal: AbortSignal.timeout(15_000),
      });
      await res.text();
      record.httpStatus = res.status;
      record.delivered = res.ok;
      if (res.ok) stats.eventsDelivered++;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
  };

  const run = (call: PlatformCall) => {
    const gen = generation;
    const steps = protocol.timeline(call.outcome, rng);
    let at = 0;
    let chain = Promise.resolve();
    for (const step of steps) {
      at += step.afterMs * opts.timeScale;
      stats.eventsPending++;
      later(at, () => {
        if (gen !== generation) return pendingDone();
        call.status = step.status;
        if (step.final) {
          call.endedAt = Date.now();
          call.durationMs = call.outcome === 'completed' || call.outcome === 'voicemail' ? Math.round(step.afterMs) : 0;
        }
        if (!eventUrl) return pendingDone();
        // Events of one call go out in order, each after the previous one was answered.
        chain = chain.then(async () => {
          for (const type of step.events) if (gen === generation) await deliver(call, type);
        }).finally(pendingDone);
      });
    }
  };

  const create = (res: http.ServerResponse, body: Record<string, unknown>, organisation: string) => {
    const read = protocol.readCreate(body);
    if ('status' in read) return error(res, read.status, read.message);
    const rule = (faults.numbers ?? []).find((r) => matches(r, read.to) && r.reject);
    if (rule?.reject) return error(res, rule.reject.status ?? 400, rule.reject.message);
    const scripted = faults.script?.length ? faults.script.shift()! : null;
    let fault: string = scripted ?? 'ok';
    if (!scripted) {
      if (rng() < (faults.rate429 ?? 0)) fault = '429';
      else if (rng() < (faults.rate503 ?? 0)) fault = '503';
      else if (rng() < (faults.rate500 ?? 0)) fault = '500';
      else if (rng() < (faults.hangRate ?? 0)) fault = 'hang';
    }
    if (fault === '429' || fault === '503') {
      stats.injected[fault] = (stats.injected[fault] ?? 0) + 1;
      const after = faults.retryAfterSeconds ?? (fault === '429' ? 1 : 0);
      return error(
        res,
        Number(fault),
        fault === '429' ? 'Too Many Requests' : 'Service Unavailable',
        after > 0 ? { 'retry-after': String(after) } : {},
      );
    }
    const ambiguous = faults.ambiguousCreates ?? true;
    if ((fault === '500' || fault === 'hang') && !ambiguous) {
      stats.injected[fault] = (stats.injected[fault] ?? 0) + 1;
      if (fault === '500') return error(res, 500, 'Internal Server Error');
      hanging.add(res);
      return;
    }
    const forced = (faults.numbers ?? []).find((r) => matches(r, read.to) && r.outcome)?.outcome;
    const call: PlatformCall = {
      id: protocol.newId(rng),
      organisation,
      to: read.to,
      from: read.from,
      request: body,
      outcome: forced ?? pickOutcome(rng, weights),
      status: '',
      answeredWith: fault === '500' ? 500 : fault === 'hang' ? 'hang' : 201,
      createdAt: Date.now(),
      endedAt: null,
      durationMs: null,
      events: [],
    };
    call.status = protocol.timeline(call.outcome, () => 0)[0]?.status ?? 'queued';
    calls.set(call.id, call);
    stats.created++;
    stats.createdPerNumber[read.to] = (stats.createdPerNumber[read.to] ?? 0) + 1;
    stats.createdPerOrganisation[organisation] = (stats.createdPerOrganisation[organisation] ?? 0) + 1;
    run(call);
    if (fault === '500') {
      stats.injected['500']!++;
      return error(res, 500, 'Internal Server Error');
    }
    if (fault === 'hang') {
      stats.injected.hang!++;
      hanging.add(res);
      return;
    }
    json(res, 201, protocol.resource(call));
  };

  return {
    handle(req, res, pathname, body) {
      const isCreate = pathname === protocol.createPath;
      const isFetch = pathname.startsWith(protocol.fetchPrefix) && pathname.length > protocol.fetchPrefix.length;
      if (!isCreate && !isFetch) return false;
      if (isCreate) stats.createRequests++;
      if (faults.outage) {
        stats.injected.outage!++;
        error(res, 503, 'Service Unavailable');
        return true;
      }
      const organisation = organisationOf(req.headers.authorization ?? '');
      if (organisation === null) {
        error(res, 401, 'Unauthorized');
        return true;
      }
      if (isCreate && req.method === 'POST') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          error(res, 400, 'body is not JSON');
          return true;
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) error(res, 400, 'body must be a JSON object');
        else create(res, parsed as Record<string, unknown>, organisation);
        return true;
      }
      if (isFetch && req.method === 'GET') {
        const call = calls.get(decodeURIComponent(pathname.slice(protocol.fetchPrefix.length)));
        // Another organisation's call does not exist for this key.
        if (!call || call.organisation !== organisation) error(res, 404, 'Not Found');
        else json(res, 200, protocol.resource(call));
        return true;
      }
      error(res, 405, 'Method Not Allowed');
      return true;
    },
    addOrganisation,
    setFaults(f) {
      faults = mergePlatformFaults(faults, f);
    },
    setEventUrl(u) {
      checkUrl(u ?? undefined);
      eventUrl = u ?? undefined;
    },
    faults: () => structuredClone(faults),
    calls: () => [...calls.values()].map((c) => structuredClone(c)),
    stats: () => structuredClone(stats),
    reset() {
      generation++;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of hanging) r.destroy();
      hanging.clear();
      rng = createRng(opts.seed);
      faults = structuredClone(startFaults);
      stats = freshStats();
      calls = new Map();
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    settled(timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        if (stats.eventsPending === 0 || closed) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`${protocol.name} simulator not settled within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close() {
      closed = true;
      generation++;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const r of hanging) r.destroy();
      hanging.clear();
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
  };
}

function pickOutcome(rng: () => number, weights: Record<PlatformOutcome, number>): PlatformOutcome {
  const entries = Object.entries(weights) as Array<[PlatformOutcome, number]>;
  const total = entries.reduce((s, [, w]) => s + Math.max(0, w), 0);
  let x = rng() * total;
  for (const [o, w] of entries) {
    x -= Math.max(0, w);
    if (x < 0) return o;
  }
  return 'completed';
}

/** Ring and talk times of the default timeline (unscaled ms). */
export function ringAndTalk(rng: () => number): { ring: number; talk: number } {
  return { ring: between(rng, [2000, 12000]), talk: between(rng, [5000, 40000]) };
}
