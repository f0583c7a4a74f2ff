// scheduler-tick: the secret-checked HTTP tick. Thin: authenticate, parse, run the tick, answer JSON.

import { z } from 'zod';
import { verifyCronSecret } from '../_shared/secrets.ts';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { startTick, type TickDeps } from '../_shared/tick.ts';
import { waitUntil } from '../_shared/edge-runtime.ts';
import { tickResponseBody } from '../_shared/status.ts';
import type { Logger } from '../_shared/log.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';
import { runWebhookDelivery } from '../_shared/webhooks/deliver.ts';
import { readBackgroundMs } from '../_shared/webhooks/queries.ts';

export const MAX_TICK_BODY_BYTES = 4096;

const TickRequest = z
  .object({
    trigger: z.enum(['pg_net', 'vercel', 'local']).optional(),
    scheduled_for: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export interface TickHandlerOptions {
  /** Accepted secrets: the current one, and the previous one during a rotation (at least one). */
  secrets: readonly string[];
  deps: TickDeps;
  jitterMs: number;
  budgetMs?: number;
  log: Logger;
  /** Failed secrets per source before 429 (a valid secret is never limited). */
  authLimit: AuthLimitConfig;
  /** Webhook delivery after each tick (WEBHOOKS_ALLOW_PRIVATE_URLS, WEBHOOK_TIMEOUT_MS); absent: none. */
  webhooks?: { allowPrivateUrls: boolean; timeoutMs: number };
  now?: () => number;
}

export function createTickHandler(opts: TickHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const now = opts.now ?? Date.now;
  if (opts.secrets.length === 0) throw new Error('scheduler-tick needs at least one accepted secret');
  const limiter = createAuthFailureLimiter({
    db: opts.deps.pool,
    functionName: 'scheduler-tick',
    config: opts.authLimit,
    log: opts.log,
  });
  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    try {
      if (req.method !== 'GET' && req.method !== 'POST') {
        return jsonResponse({ error: 'method_not_allowed' }, 405, { allow: 'GET, POST' });
      }
      // The secret first: a valid one is never counted nor limited (the cron caller is never locked out).
      if (!(await verifyCronSecret(req.headers, opts.secrets))) {
        return limiter.refuse(req, info, () => new Response('Unauthorized', { status: 401 }));
      }

      const url = new URL(req.url);
      const input: Record<string, string> = {};
      for (const key of ['trigger', 'scheduled_for']) {
        const v = url.searchParams.get(key);
        if (v !== null) input[key] = v;
      }
      if (req.method === 'POST') {
        const text = await readBodyLimited(req, MAX_TICK_BODY_BYTES);
        if (text.trim().length > 0) {
          const type = req.headers.get('content-type') ?? '';
          if (!/^application\/json\b/i.test(type)) {
            throw new HttpError(415, 'body must be application/json', 'unsupported_media_type');
          }
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            throw new HttpError(400, 'body is not valid JSON', 'bad_request');
          }
          if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            throw new HttpError(400, 'body must be a JSON object', 'bad_request');
          }
          Object.assign(input, body);
        }
      }
      const parsed = TickRequest.safeParse(input);
      if (!parsed.success) {
        throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
      }
      const ua = req.headers.get('user-agent') ?? '';
      const trigger = parsed.data.trigger ?? (/^vercel-cron\b/i.test(ua) ? 'vercel' : 'local');
      // Scheduled triggers are identified by their minute, so a second delivery is a duplicate.
      const scheduledFor = parsed.data.scheduled_for !== undefined
        ? new Date(parsed.data.scheduled_for)
        : trigger === 'local'
        ? null
        : new Date(Math.floor(now() / 60_000) * 60_000);

      const { answer: result, finished } = await startTick(opts.deps, {
        trigger,
        scheduledFor,
        jitterMs: opts.jitterMs,
        ...(opts.budgetMs !== undefined ? { budgetMs: opts.budgetMs } : {}),
      });
      // Continuous dispatch goes on after the answer, within the function's wall-clock limit.
      waitUntil(finished);
      // Webhooks are delivered beside it, for as long as it runs (at least one pass).
      if (opts.webhooks) {
        const webhooks = opts.webhooks;
        const startedAt = now();
        waitUntil(
          readBackgroundMs(opts.deps.pool).then((ms) =>
            runWebhookDelivery({
              pool: opts.deps.pool,
              log: opts.log,
              allowPrivateUrls: webhooks.allowPrivateUrls,
              timeoutMs: webhooks.timeoutMs,
              untilMs: startedAt + ms,
            })
          ),
          (err) => opts.log.error('webhook_delivery_error', { error: err instanceof Error ? err.message : String(err) }),
        );
      }
      return jsonResponse(tickResponseBody(result), result.status === 'failed' ? 500 : 200);
    } catch (err) {
      if (err instanceof HttpError) return errorResponse(err);
      opts.log.error('tick_request_error', { error: err instanceof Error ? err.message : String(err) });
      return jsonResponse({ error: 'internal_error' }, 500);
    }
  };
}
