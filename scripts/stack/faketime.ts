// A database server whose clock runs ahead (or behind) of the machine's: `npm test --clock-offset
// +365d` starts the throwaway cluster's postmaster under libfaketime (Debian package `faketime`),
// so every backend's now(), clock_timestamp() and pg_cron see the shifted date, then checks that
// the shift took effect. The tests that state their clock pass on any date; the ones that do not
// fail there.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export interface ClockOffset {
  /** The offset as libfaketime takes it in FAKETIME: `+365d`, `-2h`. */
  faketime: string;
  /** The same in milliseconds. */
  ms: number;
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };

/**
 * Parses `365d`, `+365d`, `-12h`, `+90m`, `3600` (seconds) or `+1y` (365 days, as libfaketime
 * counts a year). Throws on anything else, and on a zero offset (a guard that shifts nothing).
 */
export function parseClockOffset(spec: string): ClockOffset {
  const m = /^([+-]?)(\d+)([smhdy]?)$/.exec(spec.trim());
  if (!m) throw new Error(`clock offset '${spec}': expected [+|-]N[s|m|h|d|y], e.g. +365d`);
  const [, sign = '', n = '0', unit = 's'] = m;
  const ms = Number(n) * UNIT_MS[unit || 's']! * (sign === '-' ? -1 : 1);
  if (ms === 0) throw new Error(`clock offset '${spec}' shifts nothing`);
  return { faketime: `${sign === '-' ? '-' : '+'}${n}${unit}`, ms };
}

/** libfaketime.so.1 of the `faketime` / `libfaketime` packages (multiarch dir), or $LIBFAKETIME. */
export function libfaketimePath(): string | undefined {
  const candidates = [process.env.LIBFAKETIME];
  try {
    for (const d of readdirSync('/usr/lib')) {
      if (/-linux-gnu/.test(d)) candidates.push(path.join('/usr/lib', d, 'faketime', 'libfaketime.so.1'));
    }
  } catch {
    // no /usr/lib: nothing found
  }
  candidates.push('/usr/lib/faketime/libfaketime.so.1');
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/**
 * The environment that runs a process (and the processes it forks) on the shifted clock. Only the
 * wall clock moves: monotonic clocks (timeouts, pg_ctl's wait) stay real.
 */
export function faketimeEnv(offset: ClockOffset, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const lib = libfaketimePath();
  if (!lib) throw new Error('libfaketime is not installed (Debian package faketime)');
  const preload = [base.LD_PRELOAD, lib].filter((s) => !!s).join(':');
  return {
    ...base,
    LD_PRELOAD: preload,
    FAKETIME: offset.faketime,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

/** The offset this very process already runs at, when it was itself started under libfaketime. */
function ownOffsetMs(): number {
  if (!/libfaketime/.test(process.env.LD_PRELOAD ?? '') || !process.env.FAKETIME) return 0;
  try {
    return parseClockOffset(process.env.FAKETIME).ms;
  } catch {
    throw new Error(
      `this process runs under libfaketime with FAKETIME='${process.env.FAKETIME}', which this check cannot read`,
    );
  }
}

/**
 * Checks that the server's clock is `offset` away from the real one (within a minute): its now()
 * against this process's clock. Throws, saying both, when it is not.
 */
export async function verifyServerClock(url: string, offset: ClockOffset): Promise<Date> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const before = Date.now();
    const { rows } = await client.query<{ now: Date }>('select clock_timestamp() as now');
    const after = Date.now();
    const server = rows[0]!.now;
    const expected = (before + after) / 2 - ownOffsetMs() + offset.ms;
    if (Math.abs(server.getTime() - expected) > 60_000) {
      throw new Error(
        `the database server's clock is not shifted by ${offset.faketime}: it says ${server.toISOString()}, ` +
          `expected about ${new Date(expected).toISOString()} (is libfaketime preloaded into the postmaster?)`,
      );
    }
    return server;
  } finally {
    await client.end();
  }
}
