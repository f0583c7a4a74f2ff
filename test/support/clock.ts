// Time in tests: the fixed clock of the suites that pass p_now, bounded waiting for the ones on
// the wall clock, and an independent calling-window oracle (Intl, not the database's function).

/** The suites' fixed clock (SQL: tests.wednesday_noon()): Wednesday 2 December 2026, 12:00 UTC. */
export const WEDNESDAY_NOON = new Date('2026-12-02T12:00:00Z');

/** WEDNESDAY_NOON plus whole minutes. */
export function minutesAfterNoon(minutes: number): Date {
  return new Date(WEDNESDAY_NOON.getTime() + minutes * 60_000);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls fn until it returns something other than undefined / null / false, and returns that.
 * Bounded: after timeoutMs (default 20 s) it throws, naming `what` and the last value seen; with
 * `orTimeout: 'return'` it returns the last value instead (a wait whose outcome later assertions check).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number; orTimeout?: 'throw' | 'return' } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) {
      if (opts.orTimeout === 'return') return v as T;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(v)})`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Calling windows, computed with Intl (ICU's time zone data), independently of the database.

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local wall-clock seconds since midnight and ISO weekday of an instant in a zone. */
function localTime(at: Date, timeZone: string): { seconds: number; isoDay: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
    isoDay: WEEKDAYS[parts.weekday ?? ''] ?? 0,
  };
}

const toSeconds = (hhmm: string) => {
  const [h = '0', m = '0'] = hhmm.split(':');
  return Number(h) * 3600 + Number(m) * 60;
};

/**
 * The calling window (docs/ARCHITECTURE.md): [start, end) local time on ISO days; start > end runs overnight and
 * the hours after midnight belong to the day the window opened.
 */
export function withinWindow(at: Date, timeZone: string, start: string, end: string, days: number[]): boolean {
  const { seconds, isoDay } = localTime(at, timeZone);
  const s = toSeconds(start);
  const e = toSeconds(end);
  if (s < e) return seconds >= s && seconds < e && days.includes(isoDay);
  const previousDay = isoDay === 1 ? 7 : isoDay - 1;
  return (seconds >= s && days.includes(isoDay)) || (seconds < e && days.includes(previousDay));
}
