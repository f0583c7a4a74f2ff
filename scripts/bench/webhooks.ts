// `npm run bench -- --only webhooks`: outcome webhooks under a bad receiver. N events (10,000;
// --quick 300) are written through the outbox (public._enqueue_webhook_event, as the triggers
// write them) in waves while two deliverers (deliver.ts's runWebhookDelivery, the loop
// scheduler-tick runs after each tick, here in-process under Node through the pooler) send them to
// a receiver on loopback that fails 30 % of requests at random (HTTP 500 or a dropped connection)
// and is down altogether (connections dropped) for a whole minute (--quick: 5 s). The retry
// schedule is the default one scaled down (1/600; --quick 1/3000) so that the outage is ridden out
// in minutes; the output says which schedule was used. Checks: no event lost (each answered 2xx at
// least once), none dead, every event id distinct (receivers dedupe on webhook-id); reports the
// duplicates received (at least once means some), the attempts, and the delivery lag (event
// written -> first 2xx answer) p50 / p95 / max. Deliveries the schedule could not deliver end dead
// and are replayed (as an operator would), counted apart. Quick mode checks the invariants only.

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { runWebhookDelivery } from '../../supabase/functions/_shared/webhooks/deliver.ts';
import { startWebhookReceiver } from '../../test/support/webhook-receiver.ts';
import { fmtInt, renderTable } from './report.ts';

/** The default schedule (webhook_settings.retry_schedule), in seconds. */
const DEFAULT_SCHEDULE_S = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

export interface WebhooksRow {
  events: number;
  scheduleScale: number;
  schedule: string;
  outageSeconds: number;
  failRate: number;
  seconds: number;
  requests: number;
  failedRequests: number;
  lost: number;
  dead: number;
  /** Dead when the schedule ran out (then replayed, as an operator would). */
  deadAfterSchedule: number;
  duplicates: number;
  lagP50Ms: number;
  lagP95Ms: number;
  lagMaxMs: number;
}

export interface WebhooksBenchOptions {
  quick: boolean;
  log: (s: string) => void;
  onInvariantFailure: (where: string, failures: string[]) => void;
  poolerUrl?: string;
}

const quietLogger: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function benchWebhooks(dbUrl: string, opts: WebhooksBenchOptions): Promise<WebhooksRow> {
  const n = opts.quick ? 300 : 10_000;
  const scale = opts.quick ? 3000 : 600;
  const outageMs = opts.quick ? 5_000 : 60_000;
  const outageStartMs = opts.quick ? 1_000 : 5_000;
  const failRate = 0.3;
  const waves = 10;
  const waveGapMs = opts.quick ? 200 : 2_000;
  const scheduleS = DEFAULT_SCHEDULE_S.map((s) => s / scale);
  const schedule = `{${scheduleS.map((s) => `${s} seconds`).join(', ')}}`;

  const admin = new pg.Client({ connectionString: dbUrl, application_name: 'bench-webhooks' });
  await admin.connect();
  const pool = createPool(opts.poolerUrl ?? dbUrl, 20);
  // A seeded generator: the same failures each run.
  let seed = 0x5eed;
  const random = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  let t0 = 0;
  const receiver = await startWebhookReceiver(() => {
    const t = performance.now() - t0;
    if (t >= outageStartMs && t < outageStartMs + outageMs) return 0; // down: connections dropped
    if (random() < failRate) return random() < 0.5 ? 500 : 0;
    return 200;
  });
  try {
    await admin.query(`truncate public.webhook_endpoints, public.webhook_events restart identity cascade`);
    await admin.query(`update public.webhook_settings set retry_schedule = $1::interval[]`, [schedule]);
    await admin.query(
      `insert into public.webhook_endpoints (url, events, secret) values ($1, '{call.completed}', $2)`,
      [receiver.url, 'whsec_' + Buffer.alloc(24, 5).toString('base64')],
    );
    opts.log(
      `webhooks: ${fmtInt(n)} events in ${waves} waves, receiver failing ${failRate * 100} % and down ${
        outageMs / 1000
      } s, retry schedule scaled 1/${scale}: ${schedule}`,
    );
    t0 = performance.now();
    const deadline = Date.now() + (opts.quick ? 120_000 : 900_000);
    let writing = true;
    const deliver = () =>
      [0, 1].map(async () => {
        // Each deliverer runs like scheduler-tick's: passes until its time is up; restarted until done.
        while (Date.now() < deadline) {
          await runWebhookDelivery({
            pool,
            log: quietLogger,
            allowPrivateUrls: true,
            timeoutMs: 2_000,
            batchSize: 50,
            untilMs: Date.now() + 5_000,
            pollMs: 20,
          });
          const { rows } = await admin.query<{ left: number }>(
            `select count(*)::int as left from public.webhook_deliveries where status = 'pending'`,
          );
          if (!writing && rows[0]!.left === 0) return;
        }
      });
    const deliverers = deliver();
    for (let w = 0; w < waves; w++) {
      const size = Math.floor(n / waves) + (w < n % waves ? 1 : 0);
      await admin.query(
        `select public._enqueue_webhook_event('call.completed', jsonb_build_object('n', $1::int + i), clock_timestamp())
           from generate_series(1, $2::int) i`,
        [w * Math.ceil(n / waves), size],
      );
      await new Promise((r) => setTimeout(r, waveGapMs));
    }
    writing = false;
    await Promise.all(deliverers);
    // What the schedule could not deliver is dead, kept; an operator replays it once the receiver
    // is well again (here: at once; the random failures go on).
    const { rows: deadRows } = await admin.query<{ n: number }>(
      `select count(*)::int as n from public.webhook_deliveries where status = 'dead'`,
    );
    const deadAfterSchedule = deadRows[0]!.n;
    if (deadAfterSchedule > 0) {
      await admin.query(`select public.admin_replay_webhook_deliveries(e.id, null, 'bench') from public.webhook_endpoints e`);
      await Promise.all(deliver());
    }
    const seconds = (performance.now() - t0) / 1000;

    const { rows: events } = await admin.query<{ id: string; at: Date }>(
      `select id, occurred_at as at from public.webhook_events`,
    );
    const { rows: statuses } = await admin.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from public.webhook_deliveries group by status`,
    );
    const byStatus = Object.fromEntries(statuses.map((s) => [s.status, s.n]));
    const firstOk = new Map<string, number>();
    let duplicates = 0;
    for (const r of receiver.received) {
      if (r.status < 200 || r.status >= 300) continue;
      if (firstOk.has(r.id)) duplicates++;
      else firstOk.set(r.id, r.at);
    }

    const lags = events.filter((e) => firstOk.has(e.id)).map((e) => firstOk.get(e.id)! - e.at.getTime()).sort((a, b) => a - b);
    const lost = events.filter((e) => !firstOk.has(e.id)).length;
    const failures: string[] = [];
    if (events.length !== n) failures.push(`${events.length} events written, expected ${n}`);
    if (new Set(events.map((e) => e.id)).size !== events.length) failures.push('event ids are not distinct');
    if (lost > 0) failures.push(`${lost} events never answered 2xx (lost)`);
    if ((byStatus.dead ?? 0) > 0) failures.push(`${byStatus.dead} deliveries dead`);
    if ((byStatus.pending ?? 0) > 0) failures.push(`${byStatus.pending} deliveries still pending at the end`);
    if (failures.length) opts.onInvariantFailure('webhooks', failures);
    return {
      events: events.length,
      scheduleScale: scale,
      schedule,
      outageSeconds: outageMs / 1000,
      failRate,
      seconds,
      requests: receiver.received.length,
      failedRequests: receiver.received.filter((r) => r.status < 200 || r.status >= 300).length,
      lost,
      dead: byStatus.dead ?? 0,
      deadAfterSchedule,
      duplicates,
      lagP50Ms: percentile(lags, 50),
      lagP95Ms: percentile(lags, 95),
      lagMaxMs: lags[lags.length - 1] ?? NaN,
    };
  } finally {
    await receiver.close();
    await pool.end();
    await admin.end();
  }
}

export function webhooksTable(rows: WebhooksRow[]): string {
  return renderTable(
    ['events', 'requests', 'failed', 'dead, replayed', 'lost', 'dead', 'dup 2xx', 'lag p50 s', 'lag p95 s', 'lag max s', 'run s'],
    rows.map((r) => [
      fmtInt(r.events),
      fmtInt(r.requests),
      fmtInt(r.failedRequests),
      fmtInt(r.deadAfterSchedule),
      fmtInt(r.lost),
      fmtInt(r.dead),
      fmtInt(r.duplicates),
      (r.lagP50Ms / 1000).toFixed(2),
      (r.lagP95Ms / 1000).toFixed(2),
      (r.lagMaxMs / 1000).toFixed(2),
      r.seconds.toFixed(0),
    ]),
  );
}
