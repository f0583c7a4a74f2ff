// The Twilio part's fault knobs (SimFaults, see core.ts) and where they bite: an outage, refused
// numbers, 429 / 503 / 500 / hanging create requests, failing lookups, forced outcomes and machine
// answers per number, dropped / duplicated / reordered callbacks. The latency knob applies to every
// answer: respond.ts. Every draw comes from the shared PRNG, in a fixed order, so a seed replays.

import type http from 'node:http';
import {
  type FaultKind,
  findRule,
  mergeFaults,
  type NumberRule,
  outOfOrder,
  type SimFaults,
  type SimFaultsPatch,
  TWILIO_TEST_NUMBER_RULES,
  type TwilioErrorAnswer,
} from './core.ts';
import { answer, twilioError } from './respond.ts';
import type { SimCall, SimState } from './state.ts';

/** Merges settings (null removes one); throws on invalid settings. */
export function setFaults(sim: SimState, patch: SimFaultsPatch): void {
  sim.faults = mergeFaults(sim.faults, patch);
}

/** Replaces every setting (PUT /__sim/faults); throws on invalid settings. */
export function replaceFaults(sim: SimState, settings: unknown): void {
  sim.faults = mergeFaults({}, settings);
}

export function clearFaults(sim: SimState): void {
  sim.faults = {};
}

export function currentFaults(sim: SimState): SimFaults {
  return structuredClone(sim.faults);
}

/** During an outage every REST request is answered 503; true when it answered this one. */
export function answeredByOutage(sim: SimState, res: http.ServerResponse): boolean {
  if (!sim.faults.outage) return false;
  sim.stats.injected.outage++;
  twilioError(sim, res, { status: 503, code: 20503, message: 'Service Unavailable' });
  return true;
}

/** A GET (a call or the list) fails with 500 at lookupFailRate; true when it answered this one. */
export function answeredByLookupFault(sim: SimState, res: http.ServerResponse): boolean {
  if (!((sim.faults.lookupFailRate ?? 0) > 0 && sim.rng() < sim.faults.lookupFailRate!)) return false;
  sim.stats.fetchRequests++;
  sim.stats.injected.lookup500++;
  answer(sim, () => twilioError(sim, res, { status: 500, code: 20500, message: 'Internal Server Error' }));
  return true;
}

/** The error a number rule refuses this create with (fault rules, invalidNumbers, Twilio's test numbers). */
export function refusal(sim: SimState, to: string, from: string): TwilioErrorAnswer | null {
  const rule = findRule(
    [...(sim.faults.numbers ?? []), ...sim.config.extraRules, ...TWILIO_TEST_NUMBER_RULES],
    to,
    from,
    'reject',
  );
  if (!rule?.reject) return null;
  return {
    status: rule.reject.status ?? 400,
    code: rule.reject.code,
    message: rule.reject.message ?? `Rejected by number rule ${rule.match}`,
  };
}

/** The number rule that forces this call's outcome (and maybe who answers: a machine), if any. */
export function outcomeRule(sim: SimState, to: string, from: string): NumberRule | undefined {
  return findRule([...(sim.faults.numbers ?? [])], to, from, 'outcome');
}

/** What happens to a create request: the next scripted fault, else one drawn at the configured rates. */
export function drawFault(sim: SimState): FaultKind {
  const faults = sim.faults;
  if (faults.script && faults.script.length > 0) {
    const [next, ...rest] = faults.script;
    sim.faults = { ...faults, script: rest };
    return next!;
  }
  const r = sim.rng();
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

/**
 * Answers a create request with an injected fault. A 500 or a hang may still have created the
 * call (ambiguousCreates, default true: what makes such answers hard for the caller), through
 * `create`.
 */
export function injectCreateFault(
  sim: SimState,
  res: http.ServerResponse,
  fault: Exclude<FaultKind, 'ok'>,
  to: string,
  create: (answeredWith: Exclude<SimCall['answeredWith'], 201>) => void,
): void {
  const { faults, stats, config: { log } } = sim;
  const ambiguousCreates = faults.ambiguousCreates ?? true;
  switch (fault) {
    case '429': {
      stats.injected['429']++;
      const after = faults.retryAfterSeconds ?? 1;
      log({ event: 'fault', kind: '429', to });
      return twilioError(
        sim,
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
        sim,
        res,
        { status: 503, code: 20503, message: 'Service Unavailable' },
        after !== undefined ? { 'retry-after': String(after) } : {},
      );
    }
    case '500':
      stats.injected['500']++;
      if (ambiguousCreates) create(500);
      log({ event: 'fault', kind: '500', to, created: ambiguousCreates });
      return twilioError(sim, res, { status: 500, code: 20500, message: 'Internal Server Error' });
    case 'hang':
      stats.injected.hang++;
      stats.hanging++;
      if (ambiguousCreates) create('hang');
      log({ event: 'fault', kind: 'hang', to, created: ambiguousCreates });
      sim.hangingResponses.add(res);
      res.on('close', () => sim.hangingResponses.delete(res));
      return; // never answered: the client gives up, or close()/reset() drops the connection
  }
}

/** Whether one status callback is dropped, and whether it is sent twice (in this order of draws). */
export function drawCallbackFaults(sim: SimState): { drop: boolean; duplicate: boolean } {
  return {
    drop: sim.rng() < (sim.faults.dropCallbackRate ?? 0),
    duplicate: sim.rng() < (sim.faults.duplicateCallbackRate ?? 0),
  };
}

/** The order a call's n callbacks are sent in when reorderCallbacks is on (null: as they happen). */
export function callbackOrder(sim: SimState, n: number): number[] | null {
  return sim.faults.reorderCallbacks === true && n > 1 ? outOfOrder(sim.rng, n) : null;
}
