// The claim loop: claims queued calls just in time (claim_queued_calls, FOR UPDATE SKIP LOCKED) and
// hands them to the sender, with bounded concurrency, paced by the pacer, under the breaker gate,
// until the queue is empty, the claim deadline passes or the breaker opens. Calls claimed but not
// sent (the breaker opened, or a 429 pushed the next slot past the deadline) go back to the queue.
// Every part is injected: the loop itself does no I/O.

import type { ClaimedCall } from '../queries.ts';
import type { BreakerGate } from './breaker-gate.ts';
import type { Pacer } from './pacer.ts';

export interface ClaimLoopOptions {
  /** Requests out at once (dispatch_concurrency). */
  concurrency: number;
  /** Calls per claim at most (dispatch_batch_size). */
  batchSize: number;
  /** No claim starts at or after this time. */
  claimStopMs: number;
  now(): number;
  sleep(ms: number): Promise<void>;
  pacer: Pacer;
  gate: BreakerGate;
  /** Claims up to `want` calls at time t; rows with a release_reason were released, not to be sent. */
  claim(want: number, t: number): Promise<ClaimedCall[]>;
  /** Sends one call and records its answer; never rejects. */
  send(call: ClaimedCall): Promise<void>;
  /** Puts claimed calls that were not sent back in the queue; never rejects. */
  unclaim(calls: ClaimedCall[], reason: string): Promise<void>;
  onReleased(n: number): void;
  onDeadline(): void;
  /** Called when the loop stops, before it waits for the requests in flight (e.g. flush the answers waiting for a batch). */
  beforeDrain(): void;
}

export async function runClaimLoop(o: ClaimLoopOptions): Promise<void> {
  const { pacer, gate } = o;
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };

  try {
    for (;;) {
      if (gate.opened) break;
      const t = o.now();
      if (t >= o.claimStopMs) {
        o.onDeadline();
        break;
      }
      const concurrency = gate.concurrency(o.concurrency);
      const room = concurrency - inflight.size;
      // Claim in batches: wait for a useful amount of room rather than claiming one call at a time.
      const enough = Math.max(1, Math.min(o.batchSize, Math.ceil(concurrency / 4)));
      if (room <= 0 || (room < enough && inflight.size > 0)) {
        await Promise.race(inflight);
        continue;
      }
      // Claim only what can be sent within the next pacing window, so nothing claimed waits long.
      if (pacer.isAheadOf(t)) {
        await o.sleep(Math.min(pacer.sleepBeforeClaimMs(t), o.claimStopMs - t));
        continue;
      }
      const want = Math.min(room, pacer.sendableAt(t), o.batchSize, gate.probing ? 1 : Number.MAX_SAFE_INTEGER);
      const rows = await o.claim(want, t);
      const claimed = rows.filter((row) => row.release_reason === null);
      o.onReleased(rows.length - claimed.length);
      if (rows.length === 0) {
        if (inflight.size === 0) break;
        await Promise.race(inflight);
        continue;
      }
      for (let i = 0; i < claimed.length; i++) {
        if (gate.opened || pacer.nextSendAt >= o.claimStopMs) {
          // Claimed but never sent: back to the queue, not an attempt.
          await o.unclaim(
            claimed.slice(i),
            gate.opened ? 'not sent: circuit breaker opened' : 'not sent before the tick deadline',
          );
          break;
        }
        const wait = pacer.waitMs(o.now());
        if (wait >= 1) await o.sleep(wait);
        pacer.take(o.now());
        track(o.send(claimed[i]!));
      }
      if (gate.probing && claimed.length > 0) {
        await Promise.all(inflight);
        if (gate.state !== 'closed') break;
        if ((await gate.permit()) !== 'closed') break;
      }
    }
  } finally {
    // Also when claiming fails half-way: the requests already sent are answered and recorded
    // before the loop returns (and before the run is finished).
    o.beforeDrain();
    await Promise.allSettled(inflight);
  }
}
