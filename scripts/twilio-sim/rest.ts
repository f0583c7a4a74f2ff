// The Twilio-compatible REST API: Create Call (POST .../Calls.json), the calls list and Fetch Call
// (GET), under /2010-04-01 and under /api/laml (SignalWire's LaML API is the same Calls API, so one
// simulator serves both). HTTP Basic auth with the main account's credentials, Twilio's validation
// and error bodies; the fault knobs (faults.ts) decide how a create request is answered.

import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { API_VERSION, isLoopbackHost, pickOutcome, rfc2822, validateCreateCall } from './core.ts';
import { startTimeline } from './callbacks.ts';
import { answeredByLookupFault, answeredByOutage, drawFault, injectCreateFault, outcomeRule, refusal } from './faults.ts';
import { answer, json, twilioError } from './respond.ts';
import { bump, type CallState, type SimCall, type SimState } from './state.ts';

const CALLS = new RegExp(`^(?:/api/laml)?/${API_VERSION}/Accounts/([^/]+)/Calls(?:/([^/]+))?\\.json$`);

/** A call as Twilio's API shows it. */
export function resource(c: SimCall) {
  return {
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
  };
}

function authorized(sim: SimState, req: http.IncomingMessage): boolean {
  const expected = sim.config.expectedAuth;
  const given = Buffer.from(String(req.headers.authorization ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function createCallRecord(
  sim: SimState,
  v: ReturnType<typeof validateCreateCall> & { ok: true },
  answeredWith: SimCall['answeredWith'],
  owner: string,
): SimCall {
  const { value } = v;
  const rule = outcomeRule(sim, value.to, value.from);
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
    outcome: rule?.outcome ?? pickOutcome(sim.rng, sim.config.weights),
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
  sim.calls.set(call.sid, state);
  sim.stats.created++;
  bump(sim.stats.createdPerNumber, call.to);
  sim.config.log({
    event: 'call_created',
    call_sid: call.sid,
    to: call.to,
    outcome: call.outcome,
    answered_with: answeredWith,
  });
  startTimeline(sim, state, rule);
  return call;
}

function handleCreate(
  sim: SimState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: string,
  owner: string,
): void {
  const v = validateCreateCall(String(req.headers['content-type'] ?? ''), body);
  if (!v.ok) return twilioError(sim, res, v.error);
  const { to, from, statusCallback } = v.value;
  if (statusCallback !== null && !isLoopbackHost(new URL(statusCallback).hostname)) {
    return twilioError(sim, res, {
      status: 400,
      code: 21609,
      message: 'StatusCallback must be a loopback URL: the simulator never calls off this machine',
    });
  }
  const refused = refusal(sim, to, from);
  if (refused) return twilioError(sim, res, refused);
  const fault = drawFault(sim);
  if (fault !== 'ok') {
    return injectCreateFault(sim, res, fault, to, (answeredWith) => createCallRecord(sim, v, answeredWith, owner));
  }
  const call = createCallRecord(sim, v, 201, owner);
  const body201 = resource(call);
  // The resource as it was at creation, even if the timeline moves on during the latency.
  return answer(sim, () => json(res, 201, { ...body201, status: 'queued' }));
}

/** Serves one request to the Twilio REST API (any path that is not the control API or another platform's). */
export function handleRest(
  sim: SimState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  body: string,
): void {
  const { stats, config } = sim;
  const m = CALLS.exec(url.pathname);
  const isCreate = m !== null && !m[2] && req.method === 'POST';
  if (isCreate) {
    sim.arrivals.push(performance.timeOrigin + performance.now());
    stats.createRequests++;
    const to = new URLSearchParams(body).get('To');
    if (to) bump(stats.requestsPerNumber, to);
  }
  if (answeredByOutage(sim, res)) return;
  if (!m) {
    return twilioError(sim, res, {
      status: 404,
      code: 20404,
      message: `The requested resource ${url.pathname} was not found`,
    });
  }
  if (!authorized(sim, req)) {
    return twilioError(sim, res, { status: 401, code: 20003, message: 'Authenticate' }, {
      'www-authenticate': 'Basic realm="Twilio API"',
    });
  }
  if (m[1] !== config.accountSid && !Object.hasOwn(config.subaccounts, m[1]!)) {
    return twilioError(sim, res, {
      status: 404,
      code: 20404,
      message: `The requested resource ${url.pathname} was not found`,
    });
  }
  if (isCreate) return handleCreate(sim, req, res, body, m[1]!);
  if (req.method === 'GET' && answeredByLookupFault(sim, res)) return;
  if (!m[2] && req.method === 'GET') {
    // The calls list, newest first, filtered by To / From as Twilio's list is.
    stats.fetchRequests++;
    const to = url.searchParams.get('To');
    const from = url.searchParams.get('From');
    const pageSize = Math.max(1, Math.min(1000, Number(url.searchParams.get('PageSize') ?? 50) || 50));
    const listed = [...sim.calls.values()]
      .map((st) => st.call)
      .filter((c) => c.accountSid === m[1] && (!to || c.to === to) && (!from || c.from === from))
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, pageSize)
      .map(resource);
    const uri = `${url.pathname}${url.search}`;
    return answer(sim, () =>
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
      }));
  }
  if (m[2] && req.method === 'GET') {
    stats.fetchRequests++;
    const state = sim.calls.get(m[2]);
    if (!state) {
      return twilioError(sim, res, {
        status: 404,
        code: 20404,
        message: `The requested resource ${url.pathname} was not found`,
      });
    }
    const snapshot = resource(state.call);
    return answer(sim, () => json(res, 200, snapshot));
  }
  return twilioError(sim, res, { status: 405, code: 20004, message: 'Method not allowed' }, {
    allow: m[2] ? 'GET' : 'POST',
  });
}
