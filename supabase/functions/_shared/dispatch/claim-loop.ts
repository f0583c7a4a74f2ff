// The claim loop: claims queued calls just in time (claim_queued_calls, FOR UPDATE SKIP LOCKED), each
// with a send slot from its provider account's rate bucket in the database (shared by every
// dispatcher), and hands each call to the sender at its slot, with bounded concurrency, under its
// account's breaker gate, until the claim deadline passes, or the queue is empty and the
// caller says stop (inside a tick) or refills it (a background dispatcher). Calls claimed but not sent
// (the breaker opened, a 429 holds the provider, the slot was missed, the deadline is near) go back
// to the queue, not counted as an attempt. Every part is injected: the loop itself does no I/O.

import type { ClaimedCall, ShiftGiveBack } from '../queries.ts';
import type { BreakerGates } from './breaker-gate.ts';
import { type RateHold, sleepUntil } from './rate.ts';

/** How long to wait before claiming again when due calls are held back by the rate bucket (or another claim's locks). */
export const RATE_RETRY_MS = 100;
/** The longest a free place under the concurrency waits for others to be claimed with it. */
export const CLAIM_GATHER_MS = 5;
/**
 * The shift a claim asks for at first. The claim's slots start at its own instant, and its answer
 * reaches the dispatcher a round trip later, so an account's slots in a claim may go out late by a
 * shift that never decreases along the claim (claim_queued_calls keeps that much of the bucket for
 * them; shifted slots stay a slot apart). The part a claim did not use is given back by the next
 * claim (when nobody claimed slots of the account in between), so a lone dispatcher loses no bucket
 * time to it; a second dispatcher claiming the same account meanwhile (a tick's own part beside the
 * background dispatcher, every minute) starts its slots after it, so each such turn costs up to the
 * shift. Hence small while slots are met, larger only while they are missed: a claim after one that
 * missed a slot asks for twice the shift (up to CLAIM_SHIFT_MAX_MS), and each claim that missed none
 * asks for a tenth less (down to this). Measured on a 2-core machine at load average 12-24: a fixed
 * 100 ms put back 11-87% of a run's calls for a missed slot, a fixed 300 ms 3%, 1,000 ms none; and
 * a fixed 300 ms cost whole campaigns at 1 call/s 14% of their dial rate to those turns.
 */
export const CLAIM_SHIFT_MS = 100;
/** The most shift a claim asks for (after missed slots; see CLAIM_SHIFT_MS). */
export const CLAIM_SHIFT_MAX_MS = 1000;
/**
 * A claim also takes calls for the places that requests in flight will free within this long: those
 * whose age is within this of the requests' usual duration (an average of the last answers). A place
 * freed during the claim's round trip, or soon after it, then finds a call waiting instead of waiting
 * for the next claim. A call claimed so waits for a place, which makes it late against its slot:
 * within the claim's shift (as a late send is), or it goes back to the queue (NO_PLACE_IN_TIME).
 * By age rather than by the rate of the last answers: requests sent together are answered together,
 * and a rate measured over a burst of answers would claim calls that then wait out a whole latency.
 * Measured at 150 ms latency: docs/performance.md, finding 12.
 */
export const CLAIM_AHEAD_MS = 60;
/**
 * Claiming ahead only while answers come at least this often (per second, over the last
 * ANSWER_WINDOW_MS): below it a claim's round trip frees hardly a place, and a call claimed ahead
 * would mostly wait; at 150 ms latency the loop without it reached 92% of concurrency / latency at
 * concurrency 10 (67 answers a second).
 */
export const CLAIM_AHEAD_MIN_ANSWERS_PER_S = 100;
/** How far back answers are counted for CLAIM_AHEAD_MIN_ANSWERS_PER_S. */
const ANSWER_WINDOW_MS = 100;
/** Weight of the latest answer in the requests' usual duration (an exponential average). */
const DURATION_WEIGHT = 0.1;

export interface ClaimLoopOptions {
  /** Requests out at once (dispatch_concurrency). */
  concurrency: number;
  /** Calls per claim at most (dispatch_batch_size). */
  batchSize: number;
  /** No claim starts at or after this time, and no call is sent from this time on. */
  claimStopMs: number;
  /** How far ahead a claim may take send slots (capped by claimStopMs). */
  horizonMs: number;
  /** A call sent later than its slot by more than this gives the slot up (rate_margin_ms / 2). */
  maxLatenessMs: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  hold: RateHold;
  gates: BreakerGates;
  /**
   * Claims up to `want` calls as of time t with slots from t to horizonMs after it, each account's
   * slots to be sent up to shiftMs late; giveBack returns the shift the previous claim did not use.
   * Rows with a release_reason were released, not to be sent.
   */
  claim(want: number, t: number, horizonMs: number, shiftMs: number, giveBack: ShiftGiveBack[]): Promise<ClaimedCall[]>;
  /** True when queued calls are due that the claim did not take (the rate bucket is ahead, or another claim holds them). */
  queuedDue(t: number): Promise<boolean>;
  /**
   * The queue is empty. Return true to go on (after refilling it or waiting a little), false to stop.
   * waitForAnswer resolves when one request in flight is answered (at once when none is).
   */
  idle(inFlight: number, waitForAnswer: () => Promise<void>): Promise<boolean>;
  /** Sends one call; resolves when the provider has answered (its place under the concurrency is free again), never rejects. */
  send(call: ClaimedCall): Promise<void>;
  /** Puts claimed calls that were not sent back in the queue; never rejects. */
  unclaim(calls: ClaimedCall[], reason: string): Promise<void>;
  onReleased(n: number): void;
  onDeadline(): void;
  /** Called when the loop stops, before it waits for the requests in flight (e.g. flush the answers waiting for a batch). */
  beforeDrain(): void;
  /** True once the loop should stop claiming (the runtime is shutting the function down). */
  stopped?: () => boolean;
  /** Claim ahead only while answers come at least this often a second (default CLAIM_AHEAD_MIN_ANSWERS_PER_S). */
  claimAheadMinAnswersPerS?: number;
}

/** Why a call whose slot was missed goes back to the queue. */
const SLOT_MISSED = 'not sent: its rate slot was missed';
/** Why a call claimed ahead goes back: no place came free before its slot passed. */
export const NO_PLACE_IN_TIME = 'not sent: no place under the concurrency came free before its rate slot passed';

export async function runClaimLoop(o: ClaimLoopOptions): Promise<void> {
  const { gates, hold } = o;
  /** The shift the last claim did not use, per account: handed back by the next claim. */
  let giveBack: ShiftGiveBack[] = [];
  /** The shift the next claim asks for (see CLAIM_SHIFT_MS). */
  let shiftNow = CLAIM_SHIFT_MS;
  /** Since when a place under the concurrency has been free without a claim (null: none is). */
  let freeSince: number | null = null;
  const inflight = new Set<Promise<void>>();
  /** When each request in flight was sent. */
  const sentAt = new Map<Promise<void>, number>();
  /** The requests' usual duration, send to answer (null: none answered yet). */
  let usualMs: number | null = null;
  /** When the answers of the last ANSWER_WINDOW_MS came (from answeredFrom on). */
  const answeredAt: number[] = [];
  let answeredFrom = 0;
  const track = (p: Promise<void>) => {
    const tracked = p.finally(() => {
      const at = o.now();
      answeredAt.push(at);
      const took = at - (sentAt.get(tracked) ?? at);
      usualMs = usualMs === null ? took : usualMs + DURATION_WEIGHT * (took - usualMs);
      sentAt.delete(tracked);
      inflight.delete(tracked);
    });
    sentAt.set(tracked, o.now());
    inflight.add(tracked);
  };
  /** The requests in flight that will likely be answered within CLAIM_AHEAD_MS (see there). */
  const minAnswersPerS = o.claimAheadMinAnswersPerS ?? CLAIM_AHEAD_MIN_ANSWERS_PER_S;
  const placesAhead = (t: number): number => {
    while (answeredFrom < answeredAt.length && answeredAt[answeredFrom]! <= t - ANSWER_WINDOW_MS) answeredFrom++;
    if (answeredFrom >= 1024) {
      answeredAt.splice(0, answeredFrom);
      answeredFrom = 0;
    }
    const answersPerS = ((answeredAt.length - answeredFrom) * 1000) / ANSWER_WINDOW_MS;
    if (usualMs === null || answersPerS < minAnswersPerS) return 0;
    const sentBy = t - Math.max(0, usualMs - CLAIM_AHEAD_MS);
    let n = 0;
    for (const at of sentAt.values()) if (at <= sentBy) n++;
    return n;
  };
  const waitForAnswer = async (): Promise<void> => {
    if (inflight.size > 0) await Promise.race(inflight);
  };

  try {
    for (;;) {
      if (o.stopped?.()) break;
      const t = o.now();
      if (t >= o.claimStopMs) {
        o.onDeadline();
        break;
      }
      const concurrency = o.concurrency;
      const room = Math.max(0, concurrency - inflight.size);
      const ahead = placesAhead(t);
      if (room === 0 && ahead === 0) {
        freeSince = null;
        await waitForAnswer();
        continue;
      }
      // Claim in batches: gather a useful amount of room rather than claiming one call at a time,
      // but never keep a free place idle for longer than CLAIM_GATHER_MS (when answers come slowly,
      // waiting for a quarter of the concurrency would cost every call that wait). When requests in
      // flight are about to be answered, the claim takes calls for their places (CLAIM_AHEAD_MS) instead.
      const enough = Math.max(1, Math.min(o.batchSize, Math.ceil(concurrency / 4)));
      if (ahead === 0 && room < enough && inflight.size > 0) {
        freeSince ??= t;
        const gathered = t - freeSince;
        if (gathered < CLAIM_GATHER_MS) {
          await Promise.race([waitForAnswer(), o.sleep(CLAIM_GATHER_MS - gathered)]);
          continue;
        }
      }
      freeSince = null;
      // The provider rate-limited us: nothing is claimed until the hold ends.
      if (hold.until > t) {
        await o.sleep(Math.min(hold.until - t, o.claimStopMs - t));
        continue;
      }
      const want = Math.min(room + ahead, o.batchSize);
      const shiftMs = shiftNow;
      const handBack = giveBack;
      giveBack = [];
      const rows = await o.claim(want, t, Math.max(0, Math.min(o.horizonMs, o.claimStopMs - t)), shiftMs, handBack);
      const claimed = rows.filter((row) => row.release_reason === null);
      o.onReleased(rows.length - claimed.length);
      if (claimed.length === 0) {
        if (rows.length > 0) continue; // only released calls: look again at once
        if (await o.queuedDue(o.now())) {
          await o.sleep(Math.min(RATE_RETRY_MS, Math.max(0, o.claimStopMs - o.now())));
          continue;
        }
        if (await o.idle(inflight.size, waitForAnswer)) continue;
        break;
      }
      const notSent: Array<{ call: ClaimedCall; reason: string }> = [];
      /** Each account's shift so far in this claim (it never decreases along the claim). */
      const shifted = new Map<string, number>();
      /** A call of this claim waited for a place: its lateness, and the later calls', is not the shift's. */
      let placeWaited = false;
      for (const call of claimed) {
        const account = call.provider_account;
        const slot = call.send_at ?? o.now();
        const admission = await gates.admit(account);
        if (!admission.send) {
          notSent.push({ call, reason: admission.reason });
          continue;
        }
        const shiftSoFar = shifted.get(account) ?? 0;
        if (slot + shiftSoFar >= o.claimStopMs) {
          notSent.push({ call, reason: 'not sent before the dispatch deadline' });
          continue;
        }
        // Until the slot is less than a millisecond away (again when a timer wakes early).
        await sleepUntil(slot + shiftSoFar, o.now, o.sleep, { slackMs: 1 });
        // A call claimed ahead waits for a place (it is late against its slot meanwhile).
        let waitedForPlace = false;
        while (inflight.size >= concurrency) {
          waitedForPlace = placeWaited = true;
          await waitForAnswer();
        }
        const at = o.now();
        if (waitedForPlace && at >= o.claimStopMs) {
          notSent.push({ call, reason: 'not sent before the dispatch deadline' });
          continue;
        }
        if (hold.until > at) {
          notSent.push({ call, reason: 'not sent: the provider asked us to slow down' });
          continue;
        }
        if (gates.opened(account)) {
          notSent.push({ call, reason: 'not sent: circuit breaker opened' });
          continue;
        }
        // A late call moves this and the account's later slots in the claim by as much, within the shift.
        const callShift = Math.min(shiftMs, Math.max(shiftSoFar, at - slot));
        shifted.set(account, callShift);
        if (at - (slot + callShift) > o.maxLatenessMs) {
          // Sent this late, it could share a one-second window with the next slots' calls. Late for
          // want of a place (claimed ahead), it says nothing about the shift claims need.
          notSent.push({ call, reason: placeWaited ? NO_PLACE_IN_TIME : SLOT_MISSED });
          continue;
        }
        track(o.send(call));
      }
      // Missed slots: the next claims ask for more shift; slots met: a little less.
      shiftNow = notSent.some((n) => n.reason === SLOT_MISSED)
        ? Math.min(CLAIM_SHIFT_MAX_MS, shiftNow * 2)
        : Math.max(CLAIM_SHIFT_MS, Math.round(shiftNow * 0.9));
      // The shift each account did not use goes back to its bucket with the next claim.
      const untils = new Map<string, string>();
      for (const call of claimed) if (call.bucket_until !== null) untils.set(call.provider_account, call.bucket_until);
      for (const [account, until] of untils) {
        const unused = shiftMs - (shifted.get(account) ?? 0);
        if (unused > 0) giveBack.push({ account, until, ms: unused });
      }
      if (notSent.length > 0) {
        const byReason = new Map<string, ClaimedCall[]>();
        for (const n of notSent) byReason.set(n.reason, [...(byReason.get(n.reason) ?? []), n.call]);
        for (const [reason, calls] of byReason) await o.unclaim(calls, reason);
      }
      // While a breaker probe is out its account's calls cannot be claimed: wait for its answer
      // (recorded before the request's place frees) rather than claim nothing and, inside a tick,
      // end with the calls it put back still queued.
      if (gates.probing) await waitForAnswer();
    }
  } finally {
    // Also when claiming fails half-way: the requests already sent are answered and recorded
    // before the loop returns (and before the run is finished).
    o.beforeDrain();
    await Promise.allSettled(inflight);
  }
}
