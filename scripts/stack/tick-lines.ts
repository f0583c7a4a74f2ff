// The lines `npm start` prints about its ticks. A tick answers within its budget, but with
// continuous dispatch (scheduler_settings.background_dispatch_ms) its run goes on claiming and
// sending afterwards, until the next tick takes the dispatch over: the answer's `launched` is only
// what went out before the answer (often 0 once the background dispatcher carries the minute). The
// whole run's totals are in its scheduler_runs row once finished_at is set, and the done line
// prints them.

/** The time of day, HH:MM:SS, local. */
export function clock(d = new Date()): string {
  return d.toTimeString().slice(0, 8);
}

/**
 * A run whose answer came while its dispatcher went on in the background (continuous dispatch):
 * its totals are known only once the run row is finished (scheduler_runs.finished_at), which is
 * when the next tick takes the dispatch over or background_dispatch_ms has passed.
 */
export interface RunUnderWay {
  id: string;
  /** Calls the tick launched before it answered (the answer's `launched`). */
  launchedByAnswer: number;
  /** When its background dispatcher stops at the latest (the answer's continues_until). */
  continuesUntil: Date;
}

/** A finished run's row, as the done line needs it. */
export interface FinishedRun {
  id: string;
  status: string;
  calls_launched: number;
  calls_reserved: number;
  calls_failed: number;
  errors: number;
}

/** The line of a run that finished after its answer: what the whole run launched, and when. */
export function finishedRunLine(at: Date, run: FinishedRun, underWay: RunUnderWay): string {
  const after = Math.max(0, run.calls_launched - underWay.launchedByAnswer);
  return `${clock(at)} tick #${run.id} done: launched=${run.calls_launched} ` +
    `(${underWay.launchedByAnswer} before its answer, ${after} after) reserved=${run.calls_reserved} ` +
    `failed=${run.calls_failed} errors=${run.errors} status=${run.status}`;
}
