// How the Twilio part answers a request: JSON bodies, Twilio's error bodies, and the latency fault,
// which delays every answer (so it is applied here, where all answers pass).

import type http from 'node:http';
import { between, type TwilioErrorAnswer, twilioErrorBody } from './core.ts';
import { bump, type SimState } from './state.ts';

export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Answers after the configured latency (the work is already done: a slow answer is ambiguous).
 * reset() does not cancel these: a request in flight still gets its answer, late.
 */
export function answer(sim: SimState, fn: () => void): void {
  const delay = sim.faults.latencyMs === undefined ? 0 : between(sim.rng, sim.faults.latencyMs);
  if (delay <= 0) return fn();
  const t = setTimeout(() => {
    sim.answerTimers.delete(t);
    if (!sim.closed) fn();
  }, delay);
  sim.answerTimers.add(t);
}

/** A Twilio error answer (after the latency), counted in stats.rejected by its code. */
export function twilioError(
  sim: SimState,
  res: http.ServerResponse,
  e: TwilioErrorAnswer,
  headers: Record<string, string> = {},
): void {
  bump(sim.stats.rejected, String(e.code));
  answer(sim, () => json(res, e.status, twilioErrorBody(e), headers));
}
