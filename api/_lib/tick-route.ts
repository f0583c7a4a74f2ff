// The Vercel Cron route's logic, kept apart from the route file so tests and the local server
// import it. Vercel Cron sends GET with `Authorization: Bearer <CRON_SECRET>`; we check it in
// constant time, then forward to the scheduler-tick Edge Function with that function's own secret,
// the trigger 'vercel' and the scheduled minute (a second delivery of the same minute is recorded
// as a duplicate by the database and does no work). Never a redirect: Vercel Cron does not follow them.

import { z } from 'zod';
import { verifyCronSecret } from '../../supabase/functions/_shared/secrets.ts';
import { createLogger, type Logger } from '../../supabase/functions/_shared/log.ts';

const RouteEnv = z.object({
  CRON_SECRET: z.string().min(16, 'CRON_SECRET must be at least 16 characters'),
  CRON_SECRET_PREVIOUS: z.string().min(16).optional(),
  SCHEDULER_TICK_URL: z.string().url(),
  SCHEDULER_TICK_SECRET: z.string().min(16, 'SCHEDULER_TICK_SECRET must be at least 16 characters'),
  TICK_FORWARD_TIMEOUT_MS: z.coerce.number().int().min(1000).max(60_000).default(25_000),
});
export type RouteEnv = z.infer<typeof RouteEnv>;

export interface TickRouteOptions {
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
  now?: () => number;
  log?: Logger;
}

const json = (body: unknown, status: number) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

export function createTickRoute(opts: TickRouteOptions): (req: Request) => Promise<Response> {
  const parsed = RouteEnv.safeParse(
    Object.fromEntries(Object.entries(opts.env).map(([k, v]) => [k, v === '' ? undefined : v])),
  );
  const secrets = parsed.success ? [parsed.data.CRON_SECRET, parsed.data.CRON_SECRET_PREVIOUS].filter((s): s is string => !!s) : [];
  const log =
    opts.log ??
    createLogger({ service: 'vercel-tick-route', secrets: parsed.success ? [...secrets, parsed.data.SCHEDULER_TICK_SECRET] : [] });
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  if (!parsed.success) {
    log.error('config_error', {
      message: `the tick route is misconfigured: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    });
  }

  return async (req: Request): Promise<Response> => {
    if (req.method !== 'GET' && req.method !== 'POST') return json({ error: 'method_not_allowed' }, 405);
    if (!parsed.success) return json({ error: 'server_misconfigured' }, 500);
    if (!(await verifyCronSecret(req.headers, secrets))) return new Response('Unauthorized', { status: 401 });
    const env = parsed.data;
    const scheduledFor = new Date(Math.floor(now() / 60_000) * 60_000).toISOString();
    const started = now();
    try {
      const res = await doFetch(env.SCHEDULER_TICK_URL, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          authorization: `Bearer ${env.SCHEDULER_TICK_SECRET}`,
          'content-type': 'application/json',
          'user-agent': 'campaign-scheduler-vercel-route',
        },
        body: JSON.stringify({ trigger: 'vercel', scheduled_for: scheduledFor }),
        signal: AbortSignal.timeout(env.TICK_FORWARD_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status >= 300 && res.status < 400) {
        log.error('tick_forward_redirected', { status: res.status });
        return json({ error: 'bad_gateway', message: 'the scheduler-tick function answered with a redirect' }, 502);
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        log.error('tick_forward_bad_body', { status: res.status });
        return json({ error: 'bad_gateway', message: `scheduler-tick answered ${res.status} without JSON` }, 502);
      }
      if (res.status === 401) {
        log.error('tick_forward_unauthorized', { message: 'SCHEDULER_TICK_SECRET does not match the function\'s CRON_SECRET' });
        return json({ error: 'bad_gateway', message: 'scheduler-tick refused our secret' }, 502);
      }
      log.info('tick_forwarded', { status: res.status, duration_ms: now() - started, scheduled_for: scheduledFor });
      return json(body, res.status);
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      log.error('tick_forward_failed', { error: err instanceof Error ? err.message : String(err), timed_out: timedOut });
      return json({ error: timedOut ? 'gateway_timeout' : 'bad_gateway', scheduled_for: scheduledFor }, timedOut ? 504 : 502);
    }
  };
}
