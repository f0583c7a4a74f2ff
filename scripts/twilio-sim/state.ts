// The Twilio part's mutable state, in one object every module of the simulator is handed
// (rest.ts, control.ts, callbacks.ts, faults.ts): calls, counters, fault settings, the PRNG and the
// timers. No module keeps state of its own, so reset() and close() can reach all of it here.

import type http from 'node:http';
import { createRng, type SimFaults, type SimOutcome, type TimelineStep, type ValidCreateCall } from './core.ts';
import type { SimConfig } from './options.ts';

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

/** One status callback as planned when the call was created, with the faults drawn for it. */
export interface PlannedCallback {
  step: TimelineStep;
  sequence: number;
  drop: boolean;
  duplicate: boolean;
  record: SimCallback;
}

export interface CallState {
  call: SimCall;
  /** The call's callbacks are sent one after the other, in this chain. */
  chain: Promise<void>;
  /** Callbacks held back until all are due (reorderCallbacks). */
  held: PlannedCallback[];
}

export interface SimState {
  readonly config: SimConfig;
  /** The seed reset() re-seeds with (changed by reset({ seed })). */
  seed: number;
  rng: () => number;
  faults: SimFaults;
  stats: SimStats;
  /** Arrival times of create-call requests (epoch ms, sub-millisecond). */
  arrivals: number[];
  calls: Map<string, CallState>;
  /** Bumped by reset() and close(): work scheduled under an older generation does nothing. */
  generation: number;
  closed: boolean;
  /** Timeline steps to come (cancelled by reset() and close()). */
  readonly timers: Set<NodeJS.Timeout>;
  /** Answers delayed by the latency fault (cancelled by close() only). */
  readonly answerTimers: Set<NodeJS.Timeout>;
  readonly hangingResponses: Set<http.ServerResponse>;
  /** Aborts status callbacks in flight on close(). */
  readonly shutdown: AbortController;
  /** settled() callers, woken when nothing is pending any more. */
  idleWaiters: Array<() => void>;
}

export function freshStats(): SimStats {
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

export function createState(config: SimConfig): SimState {
  return {
    config,
    seed: config.seed,
    rng: createRng(config.seed),
    faults: structuredClone(config.startFaults),
    stats: freshStats(),
    arrivals: [],
    calls: new Map(),
    generation: 0,
    closed: false,
    timers: new Set(),
    answerTimers: new Set(),
    hangingResponses: new Set(),
    shutdown: new AbortController(),
    idleWaiters: [],
  };
}

export function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export function wakeIdleWaiters(sim: SimState): void {
  const waiters = sim.idleWaiters;
  sim.idleWaiters = [];
  for (const w of waiters) w();
}

export function pendingInc(sim: SimState): void {
  sim.stats.callbacksPending++;
}

export function pendingDec(sim: SimState): void {
  sim.stats.callbacksPending = Math.max(0, sim.stats.callbacksPending - 1);
  if (sim.stats.callbacksPending === 0) wakeIdleWaiters(sim);
}

/** Runs fn after ms unless the simulator closes first (reset() cancels it too, see cancelEverything). */
export function later(sim: SimState, ms: number, fn: () => void): void {
  if (sim.closed) return;
  const t = setTimeout(() => {
    sim.timers.delete(t);
    if (!sim.closed) fn();
  }, Math.max(0, ms));
  sim.timers.add(t);
}

/** Cancels the timelines and drops hanging requests: what reset() and close() share. */
export function cancelEverything(sim: SimState): void {
  sim.generation++;
  for (const t of sim.timers) clearTimeout(t);
  sim.timers.clear();
  for (const res of sim.hangingResponses) res.destroy();
  sim.hangingResponses.clear();
}
