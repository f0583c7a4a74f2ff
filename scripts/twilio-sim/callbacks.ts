// A call's life after its create request: the timeline of status changes (planned by core.ts,
// scaled by timeScale), and the status callbacks it subscribed to, sent in order per call, signed
// as Twilio signs them (X-Twilio-Signature with the owning account's token), to loopback only.

import { randomBytes } from 'node:crypto';
import {
  API_VERSION,
  isLoopbackHost,
  type NumberRule,
  planTimeline,
  rfc2822,
  signTwilioRequest,
  type TimelineStep,
} from './core.ts';
import { callbackOrder, drawCallbackFaults } from './faults.ts';
import { tokenOf } from './options.ts';
import {
  type CallState,
  later,
  pendingDec,
  pendingInc,
  type PlannedCallback,
  type SimCall,
  type SimCallback,
  type SimState,
} from './state.ts';

async function send(
  sim: SimState,
  state: CallState,
  p: PlannedCallback,
  duplicate: boolean,
  gen: number,
  eventAt: number,
  token: string,
): Promise<void> {
  const { stats, config } = sim;
  const c = state.call;
  if (!c.statusCallback || sim.closed || gen !== sim.generation) return;
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
    signature = signTwilioRequest(tokenOf(config, c.accountSid), url, new URLSearchParams());
  } else {
    body = params.toString();
    signature = signTwilioRequest(tokenOf(config, c.accountSid), url, params);
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
        // SignalWire's name for the same signature (the simulator signs both with the auth token).
        'x-signalwire-signature': signature,
        'i-twilio-idempotency-token': token,
        'user-agent': 'TwilioProxy/1.1',
      },
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
      signal: AbortSignal.any([sim.shutdown.signal, AbortSignal.timeout(config.callbackTimeoutMs)]),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (gen !== sim.generation) return;
    p.record.httpStatus = res.status;
    if (res.ok) {
      stats.callbacksDelivered++;
      if (p.record.delivery !== 'delivered') p.record.delivery = 'delivered';
      p.record.delivered = true;
    } else {
      stats.callbacksFailed++;
      if (p.record.delivery === 'pending') p.record.delivery = 'failed';
    }
    config.log({
      event: 'callback',
      call_sid: c.sid,
      status: p.step.status,
      sequence: p.sequence,
      duplicate,
      http_status: res.status,
    });
  } catch (err) {
    if (gen !== sim.generation) return;
    stats.callbacksFailed++;
    if (p.record.delivery === 'pending') p.record.delivery = 'failed';
    p.record.error = err instanceof Error ? err.message : String(err);
    config.log({ event: 'callback_failed', call_sid: c.sid, status: p.step.status, error: p.record.error });
  }
}

/** Queues one callback (and its duplicate) behind the call's earlier ones. */
function enqueue(sim: SimState, state: CallState, p: PlannedCallback, eventAt: number): void {
  if (p.drop) {
    p.record.delivery = 'dropped';
    sim.stats.callbacksDropped++;
    sim.config.log({ event: 'callback_dropped', call_sid: state.call.sid, status: p.step.status, sequence: p.sequence });
    return;
  }
  const gen = sim.generation;
  const token = randomBytes(16).toString('hex');
  pendingInc(sim);
  state.chain = state.chain
    .then(() => send(sim, state, p, false, gen, eventAt, token))
    .then(() => (p.duplicate ? send(sim, state, p, true, gen, eventAt, token) : undefined))
    .catch(() => undefined)
    .finally(() => {
      if (gen === sim.generation) pendingDec(sim);
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

/**
 * Plans the call's status changes and its callbacks (with their faults drawn now), and schedules
 * them. `rule` is the number rule that forced the outcome, if any (it may say a machine answers).
 */
export function startTimeline(sim: SimState, state: CallState, rule: NumberRule | undefined): void {
  const { config } = sim;
  const c = state.call;
  const steps = planTimeline(sim.rng, {
    outcome: c.outcome,
    timeoutSeconds: c.timeoutSeconds,
    machineDetection: c.machineDetection !== null,
    ...(rule?.answeredBy ? { answeredBy: rule.answeredBy } : {}),
    timing: config.timing,
    timeScale: config.timeScale,
  });
  const subscribed = config.sendCallbacks && c.statusCallback ? steps.filter((s) => c.events.includes(s.event)) : [];
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
    return { step, sequence, ...drawCallbackFaults(sim), record };
  });
  const reorder = callbackOrder(sim, planned.length);
  const gen = sim.generation;
  for (const step of steps) {
    pendingInc(sim);
    later(sim, step.atMs, () => {
      if (gen !== sim.generation) return;
      const at = Date.now();
      applyStep(c, step, at);
      const p = planned.find((x) => x.step === step);
      if (p) {
        if (reorder) {
          state.held.push(p);
          if (state.held.length === planned.length) {
            // All of the call's callbacks at once, out of order.
            for (const i of reorder) enqueue(sim, state, planned[i]!, c.createdAt + planned[i]!.step.atMs);
            state.held = [];
          }
        } else {
          enqueue(sim, state, p, at);
        }
      }
      pendingDec(sim);
    });
  }
}
