// The Vercel Cron route's logic, kept apart from the route file so tests and the local server
// import it. Vercel Cron sends GET with `Authorization: Bearer <CRON_SECRET>`; we check it in
// constant time, then call the scheduler-tick Edge Function (a plain fetch: functions-client.ts) with
// that function's own secret, the trigger 'vercel' and the scheduled minute (a second delivery of
// the same minute is recorded as a duplicate by the database and does no work). Never a redirect:
// Vercel Cron does not follow them, and the invocation refuses them too.

import { z } from 'zod';
import { verifyCronSecret } from '../../supabase/functions/_shared/secrets.ts';
import { insecureUrlProblem, weakSecretProblem } from '../../supabase/functions/_shared/config.ts';
import { createLogger, type Logger } from '../../supabase/functions/_shared/log.ts';
import { createFunctionsCaller, parseFunctionUrl } from './functions-client.ts';

/** A secret that cannot be guessed (weakSecretProblem: 32 random characters or more). */
const strongSecret = z.string().superRefine((s, ctx) => {
  const problem = weakSecretProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const RouteEnv = z.object({
  CRON_SECRET: strongSecret,
  CRON_SECRET_PREVIOUS: strongSecret.optional(),
  SCHEDULER_TICK_URL: z
    .string()
    .url()
    .refine((u) => parseFunctionUrl(u) !== undefined, 'SCHEDULER_TICK_URL must be <SUPABASE_URL>/functions/v1/<function name>'),
  /** 1: SCHEDULER_TICK_URL may be http:// (local development only; the secret would travel in clear). */
  ALLOW_INSECURE_URLS: z.enum(['1', '0', 'true', 'false']).optional().transform((v) => v === '1' || v === 'true'),
  SCHEDULER_TICK_SECRET: strongSecret,
  TICK_FORWARD_TIMEOUT_MS: z.coerce.number().int().min(1000).max(60_000).default(25_000),
}).superRefine((env, ctx) => {
  const problem = insecureUrlProblem(env.SCHEDULER_TICK_URL, env.ALLOW_INSECURE_URLS);
  if (problem) ctx.addIssue({ code: 'custom', path: ['SCHEDULER_TICK_URL'], message: problem });
});
export type RouteEnv = z.infer<typeof RouteEnv>;

export interface TickRouteOptions {
  env: Record<string, string | undefined>;
  /** The transport (default: the global fetch). */
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
  const secrets = parsed.success
    ? [parsed.data.CRON_SECRET, parsed.data.CRON_SECRET_PREVIOUS].filter((s): s is string => !!s)
    : [];
  const log = opts.log ??
    createLogger({
      service: 'vercel-tick-route',
      secrets: parsed.success ? [...secrets, parsed.data.SCHEDULER_TICK_SECRET] : [],
    });
  const now = opts.now ?? Date.now;
  const target = parsed.success ? parseFunctionUrl(parsed.data.SCHEDULER_TICK_URL) : undefined;
  const invoke = parsed.success && target
    ? createFunctionsCaller({
      functionsUrl: target.supabaseUrl,
      secret: parsed.data.SCHEDULER_TICK_SECRET,
      timeoutMs: parsed.data.TICK_FORWARD_TIMEOUT_MS,
      userAgent: 'campaign-scheduler-vercel-route',
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    })
    : undefined;
  if (!parsed.success) {
    log.error('config_error', {
      message: `the tick route is misconfigured: ${
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
      }`,
    });
  }

  return async (req: Request): Promise<Response> => {
    if (req.method !== 'GET' && req.method !== 'POST') return json({ error: 'method_not_allowed' }, 405);
    if (!invoke || !target) return json({ error: 'server_misconfigured' }, 500);
    if (!(await verifyCronSecret(req.headers, secrets))) return new Response('Unauthorized', { status: 401 });
    const scheduledFor = new Date(Math.floor(now() / 60_000) * 60_000).toISOString();
    const started = now();
    const answer = await invoke(target.name, { method: 'POST', body: { trigger: 'vercel', scheduled_for: scheduledFor } });
    if (!answer.answered) {
      log.error('tick_forward_failed', { error: answer.error, timed_out: answer.timedOut });
      return json(
        { error: answer.timedOut ? 'gateway_timeout' : 'bad_gateway', scheduled_for: scheduledFor },
        answer.timedOut ? 504 : 502,
      );
    }
    if (answer.status >= 300 && answer.status < 400) {
      log.error('tick_forward_redirected', { status: answer.status });
      return json({ error: 'bad_gateway', message: 'the scheduler-tick function answered with a redirect' }, 502);
    }
    if (answer.json === undefined) {
      log.error('tick_forward_bad_body', { status: answer.status });
      return json({ error: 'bad_gateway', message: `scheduler-tick answered ${answer.status} without JSON` }, 502);
    }
    if (answer.status === 401) {
      log.error('tick_forward_unauthorized', { message: "SCHEDULER_TICK_SECRET does not match the function's CRON_SECRET" });
      return json({ error: 'bad_gateway', message: 'scheduler-tick refused our secret' }, 502);
    }
    log.info('tick_forwarded', { status: answer.status, duration_ms: now() - started, scheduled_for: scheduledFor });
    return json(answer.json, answer.status);
  };
}
