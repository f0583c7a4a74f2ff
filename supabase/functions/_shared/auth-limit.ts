// Failed authentication, limited per source. Every function checks its credential first (in
// constant time) and calls refuse() only when it failed: the failure is counted in
// public.auth_failures, and a source over the limit in the window gets 429 with Retry-After
// instead of the usual 401/403. A valid credential never reaches this module, so the legitimate
// cron caller is never locked out, whoever shares its address.
//
// The source is the client address: the first hop of X-Forwarded-For (what the platform's proxy
// says the client is), else X-Real-IP, else the connection's own address.

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
}

export function clientAddress(req: Request, info?: ServeInfo): string {
  const first = (req.headers.get('x-forwarded-for') ?? '').split(',')[0]?.trim();
  if (first) return first.slice(0, 100);
  const real = req.headers.get('x-real-ip')?.trim();
  if (real) return real.slice(0, 100);
  const addr = info?.remoteAddr as { hostname?: string } | undefined;
  return addr?.hostname ? String(addr.hostname).slice(0, 100) : 'unknown';
}

export interface AuthFailureLimiter {
  /**
   * Records a failed authentication and answers it: `refused` (the usual 401/403 answer) while the
   * source is under the limit, 429 with Retry-After once it is over.
   */
  refuse(req: Request, info: ServeInfo | undefined, refused: () => Response): Promise<Response>;
}

export function createAuthFailureLimiter(
  opts: { db: SqlClient; functionName: string; config: AuthLimitConfig; log: Logger; now?: () => Date },
): AuthFailureLimiter {
  const now = opts.now ?? (() => new Date());
  return {
    async refuse(req, info, refused) {
      const source = clientAddress(req, info);
      try {
        const count = await recordAuthFailure(opts.db, {
          source,
          functionName: opts.functionName,
          limit: opts.config.limit,
          windowSeconds: opts.config.windowSeconds,
          now: now(),
        });
        if (count.failures === opts.config.limit + 1) {
          opts.log.warn('auth_failures_limited', { source, failures: count.failures, window_seconds: opts.config.windowSeconds });
        }
        if (count.limited) {
          const seconds = Math.max(1, Math.ceil(count.retryAfterMs / 1000));
          return jsonResponse({ error: 'too_many_failures', retry_after_ms: count.retryAfterMs }, 429, {
            'retry-after': String(seconds),
          });
        }
      } catch (err) {
        // Counting failed (database down): the request is refused anyway.
        opts.log.error('auth_failure_not_recorded', { source, error: coerceError(err).message });
      }
      return refused();
    },
  };
}
