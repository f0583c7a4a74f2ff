// Failed authentication, limited per source. Every function checks its credential first (in
// constant time) and calls refuse() only when it failed: the failure is counted in
// public.auth_failures, and a source over the limit in the window gets 429 with Retry-After
// instead of the usual 401/403. A valid credential never reaches this module, so the legitimate
// cron caller is never locked out, whoever shares its address.
//
// The source is the address the platform's proxy saw: X-Forwarded-For is a list each proxy
// appends to, and everything left of what the trusted proxies appended was written by the client
// (a client that sends `X-Forwarded-For: 10.9.0.N, …` with a new N each time would otherwise be a
// new source each time). So the source is the hop TRUSTED_PROXY_HOPS (default 1) from the right:
// the address the outermost trusted proxy appended. A chain shorter than that gives its left-most
// hop; no X-Forwarded-For (or TRUSTED_PROXY_HOPS=0) gives the connection's own address. X-Real-IP
// is not read: where the platform does not set it, the client does.
//
// In front of the database, a small per-isolate pre-filter: once a source is over the limit here
// (the database said so, or this isolate alone counted more than the limit in the window), its
// further failures get 429 at once, without a write, until its Retry-After has passed. The
// database stays the count that holds across isolates; the pre-filter only spares it a flood.

import type { SqlClient } from './db.ts';
import { jsonResponse } from './http.ts';
import type { Logger } from './log.ts';
import { recordAuthFailure } from './queries.ts';
import { coerceError } from './errors.ts';

/** What the runtime's serve() passes beside the request (the connection's address). */
export interface ServeInfo {
  remoteAddr?: { hostname?: string } | unknown;
}

export interface AuthLimitConfig {
  /** Failures a source may have in a window before further failures get 429. */
  limit: number;
  windowSeconds: number;
  /** Proxies in front of the function that append to X-Forwarded-For (default 1: the platform's). */
  trustedProxyHops?: number;
}

/** The longest source kept (an address; anything longer is cut). */
const MAX_SOURCE_LENGTH = 100;

/**
 * The client's address as the trusted proxies saw it: the X-Forwarded-For hop `trustedProxyHops`
 * from the right (the left-most one when the chain is shorter), else the connection's address.
 */
export function clientAddress(req: Request, info?: ServeInfo, trustedProxyHops = 1): string {
  const hops = (req.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  if (trustedProxyHops > 0 && hops.length > 0) {
    const hop = hops[Math.max(0, hops.length - trustedProxyHops)]!;
    return hop.slice(0, MAX_SOURCE_LENGTH);
  }
  const addr = info?.remoteAddr as { hostname?: string } | undefined;
  return addr?.hostname ? String(addr.hostname).slice(0, MAX_SOURCE_LENGTH) : 'unknown';
}

export interface AuthFailureLimiter {
  /**
   * Records a failed authentication and answers it: `refused` (the usual 401/403 answer) while the
   * source is under the limit, 429 with Retry-After once it is over.
   */
  refuse(req: Request, info: ServeInfo | undefined, refused: () => Response): Promise<Response>;
}

/** Sources the pre-filter remembers at most (the oldest is forgotten first). */
export const PREFILTER_MAX_SOURCES = 10_000;

interface LocalCount {
  /** Failures seen here since windowStart. */
  failures: number;
  windowStart: number;
  /** Until when this source is refused without asking the database (0: not limited here). */
  limitedUntil: number;
}

/**
 * The per-isolate pre-filter: a bounded map of source -> recent failures. Exported for tests; a
 * limiter makes its own.
 */
export function createLocalFailureCounts(opts: { limit: number; windowMs: number; maxSources?: number }) {
  const max = opts.maxSources ?? PREFILTER_MAX_SOURCES;
  const counts = new Map<string, LocalCount>();
  const fresh = (source: string, now: number): LocalCount => {
    let c = counts.get(source);
    if (c && c.limitedUntil <= now && now - c.windowStart >= opts.windowMs) {
      counts.delete(source);
      c = undefined;
    }
    if (!c) {
      while (counts.size >= max) {
        const oldest = counts.keys().next().value;
        if (oldest === undefined) break;
        counts.delete(oldest);
      }
      c = { failures: 0, windowStart: now, limitedUntil: 0 };
      counts.set(source, c);
    }
    return c;
  };
  return {
    /** Milliseconds this source is still refused without the database, or 0. */
    limitedFor(source: string, now: number): number {
      const c = counts.get(source);
      return c && c.limitedUntil > now ? c.limitedUntil - now : 0;
    },
    /** Counts one failure; true when that puts the source over the limit in this isolate alone. */
    count(source: string, now: number): boolean {
      const c = fresh(source, now);
      c.failures += 1;
      if (c.failures > opts.limit) c.limitedUntil = Math.max(c.limitedUntil, c.windowStart + opts.windowMs);
      return c.failures > opts.limit;
    },
    /** The database said this source is limited for retryAfterMs more. */
    limit(source: string, now: number, retryAfterMs: number): void {
      const c = fresh(source, now);
      c.limitedUntil = Math.max(c.limitedUntil, now + retryAfterMs);
    },
    get size() {
      return counts.size;
    },
  };
}

function tooMany(retryAfterMs: number): Response {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return jsonResponse({ error: 'too_many_failures', retry_after_ms: retryAfterMs }, 429, { 'retry-after': String(seconds) });
}

export function createAuthFailureLimiter(
  opts: { db: SqlClient; functionName: string; config: AuthLimitConfig; log: Logger; now?: () => Date; maxSources?: number },
): AuthFailureLimiter {
  const now = opts.now ?? (() => new Date());
  const hops = opts.config.trustedProxyHops ?? 1;
  const local = createLocalFailureCounts({
    limit: opts.config.limit,
    windowMs: opts.config.windowSeconds * 1000,
    ...(opts.maxSources ? { maxSources: opts.maxSources } : {}),
  });
  return {
    async refuse(req, info, refused) {
      const source = clientAddress(req, info, hops);
      const at = now();
      // Over the limit in this isolate already: refused before the database is touched.
      const wait = local.limitedFor(source, at.getTime());
      if (wait > 0) return tooMany(wait);
      local.count(source, at.getTime());
      try {
        const count = await recordAuthFailure(opts.db, {
          source,
          functionName: opts.functionName,
          limit: opts.config.limit,
          windowSeconds: opts.config.windowSeconds,
          now: at,
        });
        if (count.failures === opts.config.limit + 1) {
          opts.log.warn('auth_failures_limited', { source, failures: count.failures, window_seconds: opts.config.windowSeconds });
        }
        if (count.limited) {
          local.limit(source, at.getTime(), count.retryAfterMs);
          return tooMany(count.retryAfterMs);
        }
      } catch (err) {
        // Counting failed (database down): the request is refused anyway.
        opts.log.error('auth_failure_not_recorded', { source, error: coerceError(err).message });
      }
      return refused();
    },
  };
}
