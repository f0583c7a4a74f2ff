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
// Control API (loopback, no auth, JSON):
//   GET  /__sim/stats          counters (see SimStats)
//   GET  /__sim/calls          every call with its callbacks
//   GET  /__sim/arrivals       arrival time (epoch ms, sub-millisecond) of every create-call request
//   GET  /__sim/rate?windowMs=1000   the most create-call requests in any window [t, t + windowMs)
//   GET  /__sim/faults         the fault settings in force
//   POST /__sim/faults         merge settings (null removes one); PUT replaces them all
//   POST /__sim/reset          forget calls and counters, cancel pending callbacks, faults back to
//                              the start options, PRNG re-seeded (body {"seed": N}: with N from now on)

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  API_VERSION,
  between,
  createRng,
  DEFAULT_OUTCOME_WEIGHTS,
  DEFAULT_TIMING,
  type FaultKind,
  findRule,
  isLoopbackHost,
  maxRequestsInWindow,
  mergeFaults,
  type NumberRule,
  outOfOrder,
  pickOutcome,
  planTimeline,
  rfc2822,
  signTwilioRequest,
  type SimFaults,
  type SimFaultsPatch,
  type SimOutcome,
  type SimTiming,
  type TimelineStep,
  TWILIO_TEST_NUMBER_RULES,
  type TwilioErrorAnswer,
  twilioErrorBody,
  validateCreateCall,
  type ValidCreateCall,
} from './core.ts';

export type { FaultKind, NumberRule, SimFaults, SimFaultsPatch, SimOutcome, SimTiming } from './core.ts';

export interface SimOptions {
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** A loopback address (default 127.0.0.1); anything else is refused. */
  host?: string;
  /** Default: AC + 32 random hex digits. */
  accountSid?: string;
  /** Default: 32 random hex digits. */
  authToken?: string;
  /**
   * Subaccounts of the main account (SID -> auth token): calls are created under
   * /Accounts/{subaccount}/Calls.json with the main account's credentials, and their status
   * callbacks carry the subaccount's AccountSid and are signed with its token, as Twilio does.
   */
  subaccounts?: Record<string, string>;
  /** Seeds every decision (faults, outcomes, timing). Default: random. */
  seed?: number;
  /** Multiplies every simulated duration (ring, talk, no-answer timeout): 0.01 is 100 times faster. Default 1. */
  timeScale?: number;
  /** Relative weights of call outcomes. Default completed 60, no-answer 20, busy 10, failed 10. */
  outcomes?: Partial<Record<SimOutcome, number>>;
  /** Durations before scaling, ms. */
  timing?: Partial<SimTiming>;
  /** Shorthands for timing.ringMs / timing.talkMs. */
  ringMs?: [number, number];
  talkMs?: [number, number];
  /** Shorthand for timing.noAnswerMs: how long a no-answer rings (default: the request's Timeout). */
  noAnswerMs?: [number, number];
  /** More To numbers refused as invalid (code 21217), besides Twilio's test numbers. */
  invalidNumbers?: string[];
  /** Send status callbacks at all (default true; off for pure throughput runs). */
  callbacks?: boolean;
  /** How long a status callback may take before it counts as failed (default 15000 ms, as Twilio). */
  callbackTimeoutMs?: number;
  /** Fault settings in force from the start (and after reset()). */
  faults?: SimFaults;
  /** Receives one object per notable event (create, fault, callback); default: nothing. */
  log?: (event: Record<string, unknown>) => void;
}

export interface SimCallback {
  sequence: number;
  event: string;
  /** Twilio CallStatus sent. */
  status: string;
  /** 'pending' until sent; 'dropped' when a fault swallowed it. */
  delivery: 'pending' | 'delivered' | 'failed' | 'dropped';
  delivered: boolean;
  /** How many times it was sent (2 when duplicated). */
  sends: number;
  httpStatus?: number;
  error?: string;
}

/** A call the simulator holds: the create request as validated (to, from, action, callbacks...), and its life. */
export interface SimCall extends ValidCreateCall {
  sid: string;
  /** The account (main or subaccount) the call was created under. */
  accountSid: string;
  /** How the call will end (or ended). */
  outcome: SimOutcome;
  /** Twilio CallStatus now. */
  status: string;
  /** How its create request was answered: 201, an injected 500, or never ('hang'). */
  answeredWith: 201 | 500 | 'hang';
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  durationSeconds: number | null;
  answeredBy: string | null;
  callbacks: SimCallback[];
}

export interface SimStats {
  /** POST .../Calls.json requests received, whatever their answer. */
  createRequests: number;
  /** Distinct calls created (also those whose request was answered 500 or left hanging). */
  created: number;
  /** Create requests per To number, whatever their answer. */
  requestsPerNumber: Record<string, number>;
  /** Calls created per To number: a value above 1 means someone was dialled twice. */
  createdPerNumber: Record<string, number>;
  /** Error answers by Twilio code (validation, credentials, number rules and injected faults). */
  rejected: Record<string, number>;
  /** Injected faults by kind. */
  injected: Record<'outage' | '429' | '500' | '503' | 'hang' | 'lookup500', number>;
  /** Requests left hanging. */
  hanging: number;
  /** GET requests (a call, or the calls list), whatever their answer. */
  fetchRequests: number;
  /** Status callbacks sent (each duplicate counts), delivered (2xx), failed, dropped, duplicated. */
  callbacksSent: number;
  callbacksDelivered: number;
  callbacksFailed: number;
  callbacksDropped: number;
  callbacksDuplicated: number;
  /** Timeline steps and deliveries not finished yet. */
  callbacksPending: number;
}

export interface TwilioSimulator {
  /** http://127.0.0.1:PORT: the base URL for the Twilio adapter (TWILIO_API_BASE_URL). */
  url: string;
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

function freshStats(): SimStats {
  return {
    createRequests: 0,
    created: 0,
    requestsPerNumber: {},
    createdPerNumber: {},
    rejected: {},
    injected: { outage: 0, '429': 0, '500': 0, '503': 0, hang: 0, lookup500: 0 },
    hanging: 0,
    fetchRequests: 0,
    callbacksSent: 0,
    callbacksDelivered: 0,
    callbacksFailed: 0,
    callbacksDropped: 0,
    callbacksDuplicated: 0,
    callbacksPending: 0,
  };
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

interface PlannedCallback {
  step: TimelineStep;
  sequence: number;
  drop: boolean;
  duplicate: boolean;
  record: SimCallback;
}

interface CallState {
  call: SimCall;
  chain: Promise<void>;
  held: PlannedCallback[];
}

export async function startTwilioSimulator(opts: SimOptions = {}): Promise<TwilioSimulator> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error(`the simulator listens on loopback only, not ${host}`);
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = opts.authToken ?? randomBytes(16).toString('hex');
  let seed = opts.seed ?? randomBytes(4).readUInt32LE(0);
  const timeScale = opts.timeScale ?? 1;
  if (!(timeScale >= 0) || !Number.isFinite(timeScale)) throw new Error('timeScale must be a finite number >= 0');
  const timing: SimTiming = {
    ...DEFAULT_TIMING,
    ...(opts.ringMs ? { ringMs: opts.ringMs } : {}),
    ...(opts.talkMs ? { talkMs: opts.talkMs } : {}),
    ...(opts.noAnswerMs ? { noAnswerMs: opts.noAnswerMs } : {}),
    ...opts.timing,
  };
  const weights = { ...DEFAULT_OUTCOME_WEIGHTS, ...opts.outcomes };
  const extraRules: NumberRule[] = (opts.invalidNumbers ?? []).map((n) => ({
    match: n,
    field: 'To',
    reject: { code: 21217, message: 'Phone number is not a valid phone number' },
  }));
  const sendCallbacks = opts.callbacks ?? true;
  const callbackTimeoutMs = opts.callbackTimeoutMs ?? 15_000;
  const startFaults = mergeFaults({}, opts.faults ?? {});
  const log = opts.log ?? (() => {});
  const expectedAuth = Buffer.from(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
  const subaccounts: Record<string, string> = { ...opts.subaccounts };
  /** The auth token of the account that owns a call: it signs the call's callbacks. */
  const tokenOf = (sid: string): string => (Object.hasOwn(subaccounts, sid) ? subaccounts[sid]! : authToken);

  let rng = createRng(seed);
  let faults: SimFaults = structuredClone(startFaults);
  let stats = freshStats();
  let arrivals: number[] = [];
  let states = new Map<string, CallState>();
  let generation = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const hangingResponses = new Set<http.ServerResponse>();
  const shutdown = new AbortController();
  let idleWaiters: Array<() => void> = [];

  const pendingInc = () => {
    stats.callbacksPending++;
  };
  const pendingDec = () => {
    stats.callbacksPending = Math.max(0, stats.callbacksPending - 1);
    if (stats.callbacksPending === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };
  const later = (ms: number, fn: () => void) => {
    if (closed) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, Math.max(0, ms));
    timers.add(t);
  };

  // --- answers -------------------------------------------------------------------------------

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.writableEnded || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
  /**
   * Answers after the configured latency (the work is already done: a slow answer is ambiguous).
   * reset() does not cancel these: a request in flight still gets its answer, late.
   */
  const answerTimers = new Set<NodeJS.Timeout>();
  const answer = (fn: () => void) => {
    const delay = faults.latencyMs === undefined ? 0 : between(rng, faults.latencyMs);
    if (delay <= 0) return fn();
    const t = setTimeout(() => {
      answerTimers.delete(t);
      if (!closed) fn();
    }, delay);
    answerTimers.add(t);
  };
  const twilioError = (res: http.ServerResponse, e: TwilioErrorAnswer, headers: Record<string, string> = {}) => {
    bump(stats.rejected, String(e.code));
    answer(() => json(res, e.status, twilioErrorBody(e), headers));
  };

  const resource = (c: SimCall) => ({
    sid: c.sid,
    date_created: rfc2822(c.createdAt),
    date_updated: rfc2822(c.endedAt ?? c.startedAt ?? c.createdAt),
    parent_call_sid: null,
    account_sid: c.accountSid,
    to: c.to,
    to_formatted: c.to,
    from: c.from,
    from_formatted: c.from,
    phone_number_sid: null,
    status: c.status,
    start_time: c.startedAt === null ? null : rfc2822(c.startedAt),
    end_time: c.endedAt === null ? null : rfc2822(c.endedAt),
    duration: c.durationSeconds === null ? null : String(c.durationSeconds),
    price: null,
    price_unit: 'USD',
    direction: 'outbound-api',
    answered_by: c.answeredBy,
    api_version: API_VERSION,
    forwarded_from: null,
    group_sid: null,
    caller_name: null,
    queue_time: '0',
    trunk_sid: null,
    uri: `/${API_VERSION}/Accounts/${c.accountSid}/Calls/${c.sid}.json`,
    subresource_uris: {
      notifications: `/${API_VERSION}/Accounts/${c.accountSid}/Calls/${c.sid}/Notifications.json`,
      recordings: `/${API_VERSION}/Accounts/${c.accountSid}/Calls/${c.sid}/Recordings.json`,
      events: `/${API_VERSION}/Accounts/${c.accountSid}/Calls/${c.sid}/Events.json`,
    },
  });

  // --- status callbacks ----------------------------------------------------------------------

  async function send(
    state: CallState,
    p: PlannedCallback,
    duplicate: boolean,
    gen: number,
    eventAt: number,
    token: string,
  ): Promise<void> {
    const c = state.call;
    if (!c.statusCallback || closed || gen !== generation) return;
    const target = new URL(c.statusCallback);
    if (!isLoopbackHost(target.hostname)) {
      // Refused at creation already; checked again so nothing can ever leave this machine.
      p.record.delivery = 'failed';
      p.record.error = 'not a loopback address';
      stats.callbacksFailed++;
      return;
    }
    const params = new URLSearchParams({
      AccountSid: c.accountSid,
      ApiVersion: API_VERSION,
      CallSid: c.sid,
      CallStatus: p.step.status,
      Called: c.to,
      Caller: c.from,
      CallbackSource: 'call-progress-events',
      Direction: 'outbound-api',
      From: c.from,
      To: c.to,
      SequenceNumber: String(p.sequence),
      Timestamp: rfc2822(eventAt),
      ...p.step.extra,
    });
    let url = c.statusCallback;
    let body: string | undefined;
    let signature: string;
    if (c.statusCallbackMethod === 'GET') {
      url = `${url}${url.includes('?') ? '&' : '?'}${params.toString()}`;
      signature = signTwilioRequest(tokenOf(c.accountSid), url, new URLSearchParams());
    } else {
      body = params.toString();
      signature = signTwilioRequest(tokenOf(c.accountSid), url, params);
    }
    stats.callbacksSent++;
    if (duplicate) stats.callbacksDuplicated++;
    p.record.sends++;
    try {
      const res = await fetch(url, {
        method: c.statusCallbackMethod,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          'x-twilio-signature': signature,
          'i-twilio-idempotency-token': token,
          'user-agent': 'TwilioProxy/1.1',
        },
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
        signal: AbortSignal.any([shutdown.signal, AbortSignal.timeout(callbackTimeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (gen !== generation) return;
      p.record.httpStatus = res.status;
      if (res.ok) {
        stats.callbacksDelivered++;
        if (p.record.delivery !== 'delivered') p.record.delivery = 'delivered';
        p.record.delivered = true;
      } else {
        stats.callbacksFailed++;
        if (p.record.delivery === 'pending') p.record.delivery = 'failed';
      }
      log({
        event: 'callback',
        call_sid: c.sid,
        status: p.step.status,
        sequence: p.sequence,
        duplicate,
        http_status: res.status,
      });
    } catch (err) {
      if (gen !== generation) return;
      stats.callbacksFailed++;
      if (p.record.delivery === 'pending') p.record.delivery = 'failed';
      p.record.error = err instanceof Error ? err.message : String(err);
      log({ event: 'callback_failed', call_sid: c.sid, status: p.step.status, error: p.record.error });
    }
  }

  /** Queues one callback (and its duplicate) behind the call's earlier ones. */
  function enqueue(state: CallState, p: PlannedCallback, eventAt: number): void {
    if (p.drop) {
      p.record.delivery = 'dropped';
      stats.callbacksDropped++;
      log({ event: 'callback_dropped', call_sid: state.call.sid, status: p.step.status, sequence: p.sequence });
      return;
    }
    const gen = generation;
    const token = randomBytes(16).toString('hex');
    pendingInc();
    state.chain = state.chain
      .then(() => send(state, p, false, gen, eventAt, token))
      .then(() => (p.duplicate ? send(state, p, true, gen, eventAt, token) : undefined))
      .catch(() => undefined)
      .finally(() => {
        if (gen === generation) pendingDec();
      });
  }

  function applyStep(c: SimCall, step: TimelineStep, at: number): void {
    c.status = step.status;
    if (step.status === 'in-progress') {
      c.startedAt = at;
      c.answeredBy = step.extra.AnsweredBy ?? c.answeredBy;
    }
    if (step.event === 'completed') {
      c.endedAt = at;
      c.durationSeconds = Number(step.extra.CallDuration ?? 0);
    }
  }

  function startTimeline(state: CallState, rule: NumberRule | undefined): void {
    const c = state.call;
    const steps = planTimeline(rng, {
      outcome: c.outcome,
      timeoutSeconds: c.timeoutSeconds,
      machineDetection: c.machineDetection !== null,
      ...(rule?.answeredBy ? { answeredBy: rule.answeredBy } : {}),
      timing,
      timeScale,
    });
    const subscribed = sendCallbacks && c.statusCallback ? steps.filter((s) => c.events.includes(s.event)) : [];
    const planned: PlannedCallback[] = subscribed.map((step, sequence) => {
      const record: SimCallback = {
        sequence,
        event: step.event,
        status: step.status,
        delivery: 'pending',
        delivered: false,
        sends: 0,
      };
      c.callbacks.push(record);
      return {
        step,
        sequence,
        drop: rng() < (faults.dropCallbackRate ?? 0),
        duplicate: rng() < (faults.duplicateCallbackRate ?? 0),
        record,
      };
    });
    const reorder = faults.reorderCallbacks === true && planned.length > 1 ? outOfOrder(rng, planned.length) : null;
    const gen = generation;
    for (const step of steps) {
      pendingInc();
      later(step.atMs, () => {
        if (gen !== generation) return;
        const at = Date.now();
        applyStep(c, step, at);
        const p = planned.find((x) => x.step === step);
        if (p) {
          if (reorder) {
            state.held.push(p);
            if (state.held.length === planned.length) {
              // All of the call's callbacks at once, out of order.
              for (const i of reorder) enqueue(state, planned[i]!, c.createdAt + planned[i]!.step.atMs);
              state.held = [];
            }
          } else {
            enqueue(state, p, at);
          }
        }
        pendingDec();
      });
    }
  }

  function createCallRecord(
    v: ReturnType<typeof validateCreateCall> & { ok: true },
    answeredWith: SimCall['answeredWith'],
    owner: string,
  ): SimCall {
    const { value } = v;
    const outcomeRule = findRule([...(faults.numbers ?? [])], value.to, value.from, 'outcome');
    const call: SimCall = {
      sid: `CA${randomBytes(16).toString('hex')}`,
      accountSid: owner,
      to: value.to,
      from: value.from,
      action: value.action,
      statusCallback: value.statusCallback,
      statusCallbackMethod: value.statusCallbackMethod,
      events: value.events,
      machineDetection: value.machineDetection,
      timeoutSeconds: value.timeoutSeconds,
      outcome: outcomeRule?.outcome ?? pickOutcome(rng, weights),
      status: 'queued',
      answeredWith,
      createdAt: Date.now(),
      startedAt: null,
      endedAt: null,
      durationSeconds: null,
      answeredBy: null,
      callbacks: [],
    };
    const state: CallState = { call, chain: Promise.resolve(), held: [] };
    states.set(call.sid, state);
    stats.created++;
    bump(stats.createdPerNumber, call.to);
    log({ event: 'call_created', call_sid: call.sid, to: call.to, outcome: call.outcome, answered_with: answeredWith });
    startTimeline(state, outcomeRule);
    return call;
  }

  function drawFault(): FaultKind {
    if (faults.script && faults.script.length > 0) {
      const [next, ...rest] = faults.script;
      faults = { ...faults, script: rest };
      return next!;
    }
    const r = rng();
    let edge = 0;
    for (
      const [kind, p] of [
        ['429', faults.rate429],
        ['503', faults.rate503],
        ['500', faults.rate500],
        ['hang', faults.hangRate],
      ] as const
    ) {
      edge += p ?? 0;
      if (r < edge) return kind;
    }
    return 'ok';
  }

  function handleCreate(req: http.IncomingMessage, res: http.ServerResponse, body: string, owner: string): void {
    const v = validateCreateCall(String(req.headers['content-type'] ?? ''), body);
    if (!v.ok) return twilioError(res, v.error);
    const { to, from, statusCallback } = v.value;
    if (statusCallback !== null && !isLoopbackHost(new URL(statusCallback).hostname)) {
      return twilioError(res, {
        status: 400,
        code: 21609,
        message: 'StatusCallback must be a loopback URL: the simulator never calls off this machine',
      });
    }
    const rule = findRule([...(faults.numbers ?? []), ...extraRules, ...TWILIO_TEST_NUMBER_RULES], to, from, 'reject');
    if (rule?.reject) {
      return twilioError(res, {
        status: rule.reject.status ?? 400,
        code: rule.reject.code,
        message: rule.reject.message ?? `Rejected by number rule ${rule.match}`,
      });
    }
    const fault = drawFault();
    const ambiguousCreates = faults.ambiguousCreates ?? true;
    switch (fault) {
      case '429': {
        stats.injected['429']++;
        const after = faults.retryAfterSeconds ?? 1;
        log({ event: 'fault', kind: '429', to });
        return twilioError(
          res,
          { status: 429, code: 20429, message: 'Too Many Requests' },
          after > 0 ? { 'retry-after': String(after) } : {},
        );
      }
      case '503': {
        stats.injected['503']++;
        const after = faults.retryAfterSeconds503;
        log({ event: 'fault', kind: '503', to });
        return twilioError(
          res,
          { status: 503, code: 20503, message: 'Service Unavailable' },
          after !== undefined ? { 'retry-after': String(after) } : {},
        );
      }
      case '500':
        stats.injected['500']++;
        if (ambiguousCreates) createCallRecord(v, 500, owner);
        log({ event: 'fault', kind: '500', to, created: ambiguousCreates });
        return twilioError(res, { status: 500, code: 20500, message: 'Internal Server Error' });
      case 'hang':
        stats.injected.hang++;
        stats.hanging++;
        if (ambiguousCreates) createCallRecord(v, 'hang', owner);
        log({ event: 'fault', kind: 'hang', to, created: ambiguousCreates });
        hangingResponses.add(res);
        res.on('close', () => hangingResponses.delete(res));
        return; // never answered: the client gives up, or close()/reset() drops the connection
      case 'ok': {
        const call = createCallRecord(v, 201, owner);
        const body201 = resource(call);
        // The resource as it was at creation, even if the timeline moves on during the latency.
        return answer(() => json(res, 201, { ...body201, status: 'queued' }));
      }
    }
  }

  // --- HTTP ------------------------------------------------------------------------------------

  const CALLS = new RegExp(`^/${API_VERSION}/Accounts/([^/]+)/Calls(?:/([^/]+))?\\.json$`);

  function authorized(req: http.IncomingMessage): boolean {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  }

  function handleControl(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    query: URLSearchParams,
    body: string,
  ): void {
    const parse = (): unknown => (body.trim() ? JSON.parse(body) : {});
    try {
      if (pathname === '/__sim/stats' && req.method === 'GET') return json(res, 200, api.stats());
      if (pathname === '/__sim/calls' && req.method === 'GET') return json(res, 200, api.calls());
      if (pathname === '/__sim/arrivals' && req.method === 'GET') {
        return json(res, 200, { arrivals: api.createArrivals() });
      }
      if (pathname === '/__sim/rate' && req.method === 'GET') {
        const windowMs = Number(query.get('windowMs') ?? '1000');
        return json(res, 200, { windowMs, maxRequests: api.maxRequestsInWindow(windowMs), requests: arrivals.length });
      }
      if (pathname === '/__sim/faults' && req.method === 'GET') return json(res, 200, api.faults());
      if (pathname === '/__sim/faults' && req.method === 'POST') {
        api.setFaults(parse() as SimFaultsPatch);
        return json(res, 200, api.faults());
      }
      if (pathname === '/__sim/faults' && req.method === 'PUT') {
        faults = mergeFaults({}, parse());
        return json(res, 200, api.faults());
      }
      if (pathname === '/__sim/reset' && req.method === 'POST') {
        const b = parse() as { seed?: unknown };
        if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isFinite(b.seed))) {
          throw new Error('seed must be a number');
        }
        api.reset(typeof b.seed === 'number' ? { seed: b.seed } : {});
        return json(res, 200, { ok: true });
      }
      return json(res, 404, { error: 'not_found' });
    } catch (err) {
      return json(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

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
      if (closed) return void res.destroy();
      const url = new URL(req.url ?? '/', 'http://sim.invalid');
      if (tooBig) return json(res, 413, { error: 'body too large' });
      const body = Buffer.concat(chunks).toString('utf8');
      if (url.pathname.startsWith('/__sim/')) return handleControl(req, res, url.pathname, url.searchParams, body);

      const m = CALLS.exec(url.pathname);
      const isCreate = m !== null && !m[2] && req.method === 'POST';
      if (isCreate) {
        arrivals.push(performance.timeOrigin + performance.now());
        stats.createRequests++;
        const to = new URLSearchParams(body).get('To');
        if (to) bump(stats.requestsPerNumber, to);
      }
      if (faults.outage) {
        stats.injected.outage++;
        return twilioError(res, { status: 503, code: 20503, message: 'Service Unavailable' });
      }
      if (!m) {
        return twilioError(res, { status: 404, code: 20404, message: `The requested resource ${url.pathname} was not found` });
      }
      if (!authorized(req)) {
        return twilioError(res, { status: 401, code: 20003, message: 'Authenticate' }, {
          'www-authenticate': 'Basic realm="Twilio API"',
        });
      }
      if (m[1] !== accountSid && !Object.hasOwn(subaccounts, m[1]!)) {
        return twilioError(res, { status: 404, code: 20404, message: `The requested resource ${url.pathname} was not found` });
      }
      if (isCreate) return handleCreate(req, res, body, m[1]!);
      if (req.method === 'GET' && (faults.lookupFailRate ?? 0) > 0 && rng() < faults.lookupFailRate!) {
        stats.fetchRequests++;
        stats.injected.lookup500++;
        return answer(() => twilioError(res, { status: 500, code: 20500, message: 'Internal Server Error' }));
      }
      if (!m[2] && req.method === 'GET') {
        // The calls list, newest first, filtered by To / From as Twilio's list is.
        stats.fetchRequests++;
        const to = url.searchParams.get('To');
        const from = url.searchParams.get('From');
        const pageSize = Math.max(1, Math.min(1000, Number(url.searchParams.get('PageSize') ?? 50) || 50));
        const listed = [...states.values()]
          .map((st) => st.call)
          .filter((c) => c.accountSid === m[1] && (!to || c.to === to) && (!from || c.from === from))
          .sort((a, b) => b.createdAt - a.createdAt)
          .slice(0, pageSize)
          .map(resource);
        const uri = `${url.pathname}${url.search}`;
        return answer(() =>
          json(res, 200, {
            calls: listed,
            page: 0,
            page_size: pageSize,
            start: 0,
            end: Math.max(0, listed.length - 1),
            uri,
            first_page_uri: uri,
            next_page_uri: null,
            previous_page_uri: null,
          })
        );
      }
      if (m[2] && req.method === 'GET') {
        stats.fetchRequests++;
        const state = states.get(m[2]);
        if (!state) {
          return twilioError(res, { status: 404, code: 20404, message: `The requested resource ${url.pathname} was not found` });
        }
        const snapshot = resource(state.call);
        return answer(() => json(res, 200, snapshot));
      }
      return twilioError(res, { status: 405, code: 20004, message: 'Method not allowed' }, { allow: m[2] ? 'GET' : 'POST' });
    });
  });
  server.keepAliveTimeout = 5_000;
  // Hanging requests must hang until the client gives up, not until Node's request timeout.
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const cancelEverything = () => {
    generation++;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const res of hangingResponses) res.destroy();
    hangingResponses.clear();
  };

  const api: TwilioSimulator = {
    url: `http://${urlHost}:${port}`,
    accountSid,
    authToken,
    setFaults: (f) => {
      faults = mergeFaults(faults, f);
    },
    clearFaults: () => {
      faults = {};
    },
    faults: () => structuredClone(faults),
    stats: () => structuredClone(stats),
    calls: () => [...states.values()].map((s) => structuredClone(s.call)),
    createArrivals: () => [...arrivals],
    maxRequestsInWindow: (windowMs) => maxRequestsInWindow(arrivals, windowMs),
    reset: (o = {}) => {
      cancelEverything();
      if (o.seed !== undefined) seed = o.seed;
      rng = createRng(seed);
      faults = structuredClone(startFaults);
      stats = freshStats();
      arrivals = [];
      states = new Map();
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    },
    settled: (timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (stats.callbacksPending === 0 || closed) return resolve();
        const timer = setTimeout(() => {
          idleWaiters = idleWaiters.filter((w) => w !== done);
          reject(new Error(`simulator not settled within ${timeoutMs} ms (${stats.callbacksPending} steps pending)`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        idleWaiters.push(done);
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      cancelEverything();
      for (const t of answerTimers) clearTimeout(t);
      answerTimers.clear();
      shutdown.abort();
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

// --- CLI ---------------------------------------------------------------------------------------

const USAGE = `usage: tsx scripts/twilio-sim/server.ts [--port N] [--host 127.0.0.1] [--seed N] [--time-scale X]
       [--account-sid AC...] [--auth-token T] [--faults JSON] [--no-callbacks] [--verbose]`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        seed: { type: 'string' },
        'time-scale': { type: 'string' },
        'account-sid': { type: 'string' },
        'auth-token': { type: 'string' },
        faults: { type: 'string' },
        'no-callbacks': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number`);
    return n;
  };
  const port = num('port', values.port) ?? 0;
  const seed = num('seed', values.seed);
  const timeScale = num('time-scale', values['time-scale']);
  const sim = await startTwilioSimulator({
    port,
    host: values.host,
    ...(seed !== undefined ? { seed } : {}),
    ...(timeScale !== undefined ? { timeScale } : {}),
    ...(values['account-sid'] ? { accountSid: values['account-sid'] } : {}),
    ...(values['auth-token'] ? { authToken: values['auth-token'] } : {}),
    ...(values.faults ? { faults: JSON.parse(values.faults) as SimFaults } : {}),
    callbacks: !values['no-callbacks'],
    ...(values.verbose ? { log: (e: Record<string, unknown>) => process.stderr.write(`${JSON.stringify(e)}\n`) } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'twilio_sim_listening', url: sim.url, accountSid: sim.accountSid, authToken: sim.authToken })}\n`,
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
