// scheduler-metrics: Prometheus text exposition of the scheduler's state, read from the monitoring
// views. Closed by default: a bearer token (METRICS_TOKEN) is required; without one configured
// every request gets 401 metrics_closed, unless the metrics were made public (METRICS_PUBLIC=true).
// Wrong tokens are counted per source (auth-limit.ts): 429 with Retry-After over the limit.

import { timingSafeEqualStrings } from '../_shared/secrets.ts';
import { jsonResponse } from '../_shared/http.ts';
import type { SqlClient } from '../_shared/db.ts';
import { readMetrics } from '../_shared/queries.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { bearerToken } from '../_shared/operator-auth.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';

export interface MetricsHandlerOptions {
  db: SqlClient;
  /**
   * Who may read: a bearer token ({token}), anyone ('public', only when configured so), or nobody
   * ('closed': no token configured).
   */
  access: { token: string } | 'public' | 'closed';
  log: Logger;
  authLimit: AuthLimitConfig;
}

/** The metrics' access rule from the configuration: a token wins; public only when asked for. */
export function metricsAccess(token: string | undefined, isPublic: boolean): MetricsHandlerOptions['access'] {
  if (token) return { token };
  return isPublic ? 'public' : 'closed';
}

export const METRICS_CLOSED_MESSAGE =
  'the metrics are closed: set METRICS_TOKEN and scrape with Authorization: Bearer <token>, or set METRICS_PUBLIC=true to let anyone read them';

type Sample = {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  values: Array<{ labels?: Record<string, string>; value: number }>;
};

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function renderPrometheus(samples: Sample[]): string {
  const lines: string[] = [];
  for (const s of samples) {
    lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
    for (const v of s.values) {
      const labels = v.labels && Object.keys(v.labels).length > 0
        ? `{${Object.entries(v.labels).map(([k, x]) => `${k}="${escapeLabel(x)}"`).join(',')}}`
        : '';
      lines.push(`${s.name}${labels} ${Number.isFinite(v.value) ? v.value : 0}`);
    }
  }
  return lines.join('\n') + '\n';
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const epoch = (v: unknown): number => (v instanceof Date ? v.getTime() / 1000 : v ? new Date(String(v)).getTime() / 1000 : 0);

export function createMetricsHandler(opts: MetricsHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const limiter = createAuthFailureLimiter({
    db: opts.db,
    functionName: 'scheduler-metrics',
    config: opts.authLimit,
    log: opts.log,
  });
  const access = opts.access;
  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    if (req.method !== 'GET') return jsonResponse({ error: 'method_not_allowed' }, 405, { allow: 'GET' });
    if (access === 'closed') {
      return jsonResponse({ error: 'metrics_closed', message: METRICS_CLOSED_MESSAGE }, 401, { 'www-authenticate': 'Bearer' });
    }
    if (access !== 'public') {
      const presented = bearerToken(req.headers);
      if (presented === null || !(await timingSafeEqualStrings(presented, access.token))) {
        return limiter.refuse(req, info, () => jsonResponse({ error: 'unauthorized' }, 401, { 'www-authenticate': 'Bearer' }));
      }
    }
    try {
      const { status: s, runs, campaigns } = await readMetrics(opts.db);
      const body = renderPrometheus([
        {
          name: 'scheduler_last_run_timestamp_seconds',
          help: 'Start of the last scheduler run.',
          type: 'gauge',
          values: [{ value: epoch(s.last_run_started_at) }],
        },
        {
          name: 'scheduler_last_run_duration_seconds',
          help: 'Duration of the last scheduler run.',
          type: 'gauge',
          values: [{ value: num(s.last_run_duration_ms) / 1000 }],
        },
        {
          name: 'scheduler_last_run_success',
          help: '1 when the last run finished ok, partial or skipped.',
          type: 'gauge',
          values: [{ value: ['ok', 'partial', 'skipped'].includes(String(s.last_run_status)) ? 1 : 0 }],
        },
        {
          name: 'scheduler_next_run_timestamp_seconds',
          help: 'When the pg_cron tick runs next.',
          type: 'gauge',
          values: [{ value: epoch(s.next_run_at) }],
        },
        {
          name: 'scheduler_runs_total',
          help: 'Scheduler runs kept in the run log, by trigger and status.',
          type: 'counter',
          values: runs.map((r) => ({ labels: { trigger: String(r.trigger), status: String(r.status) }, value: num(r.n) })),
        },
        {
          name: 'scheduler_calls_launched_total',
          help: 'Calls launched (accepted by the provider) by runs in the run log, by trigger.',
          type: 'counter',
          values: Object.entries(
            runs.reduce<Record<string, number>>(
              (acc, r) => ({ ...acc, [String(r.trigger)]: (acc[String(r.trigger)] ?? 0) + num(r.launched) }),
              {},
            ),
          ).map(([trigger, value]) => ({ labels: { trigger }, value })),
        },
        {
          name: 'scheduler_calls_launched_last_hour',
          help: 'Calls launched (accepted by the provider) in the last hour.',
          type: 'gauge',
          values: [{ value: num(s.calls_launched_last_hour) }],
        },
        {
          name: 'scheduler_calls_launched_last_day',
          help: 'Calls launched (accepted by the provider) in the last day.',
          type: 'gauge',
          values: [{ value: num(s.calls_launched_last_day) }],
        },
        {
          name: 'scheduler_run_error_rate_last_hour',
          help: 'Share of finished runs in the last hour with errors.',
          type: 'gauge',
          values: [{ value: num(s.run_error_rate_last_hour) }],
        },
        {
          name: 'scheduler_active_calls',
          help: 'Calls holding a slot (queued, dialing, unknown, ringing, in progress).',
          type: 'gauge',
          values: [{ value: num(s.active_calls) }],
        },
        {
          name: 'scheduler_global_max_concurrent_calls',
          help: 'Global cap on active calls.',
          type: 'gauge',
          values: [{ value: num(s.global_max_concurrent_calls) }],
        },
        {
          name: 'scheduler_queued_calls',
          help: 'Calls reserved and waiting for the dispatcher.',
          type: 'gauge',
          values: [{ value: num(s.queued_calls) }],
        },
        {
          name: 'scheduler_active_campaigns',
          help: 'Campaigns QUEUED or RUNNING.',
          type: 'gauge',
          values: [{ value: num(s.active_campaigns) }],
        },
        {
          name: 'scheduler_breaker_open',
          help: '1 when the provider circuit breaker is open or half open.',
          type: 'gauge',
          values: [{ value: s.breaker_state && s.breaker_state !== 'closed' ? 1 : 0 }],
        },
        {
          name: 'scheduler_machine_answers_last_hour',
          help: 'Calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last hour.',
          type: 'gauge',
          values: [{ value: num(s.machine_answers_last_hour) }],
        },
        {
          name: 'scheduler_machine_answers_last_day',
          help: 'Calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last day.',
          type: 'gauge',
          values: [{ value: num(s.machine_answers_last_day) }],
        },
        {
          name: 'scheduler_campaign_active_calls',
          help: 'Active calls per campaign.',
          type: 'gauge',
          values: campaigns.map((c) => ({ labels: { campaign_id: String(c.campaign_id) }, value: num(c.active_calls) })),
        },
        {
          name: 'scheduler_campaign_max_concurrent_calls',
          help: 'Cap per campaign.',
          type: 'gauge',
          values: campaigns.map((c) => ({ labels: { campaign_id: String(c.campaign_id) }, value: num(c.max_concurrent_calls) })),
        },
        {
          name: 'scheduler_campaign_contacts_remaining',
          help: 'Contacts pending or in progress per campaign.',
          type: 'gauge',
          values: campaigns.map((c) => ({ labels: { campaign_id: String(c.campaign_id) }, value: num(c.contacts_remaining) })),
        },
        {
          name: 'scheduler_campaign_machine_answers_last_day',
          help: 'Calls answered by a machine (AnsweredBy machine_* or fax) that ended in the last day, per campaign.',
          type: 'gauge',
          values: campaigns.map((c) => ({
            labels: { campaign_id: String(c.campaign_id) },
            value: num(c.machine_answers_last_day),
          })),
        },
      ]);
      return new Response(body, {
        status: 200,
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' },
      });
    } catch (err) {
      opts.log.error('metrics_error', { error: coerceError(err).message });
      return jsonResponse({ error: 'database_unavailable' }, 503);
    }
  };
}
