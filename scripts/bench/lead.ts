// The `lead` part of `npm run bench`: speed to lead. One campaign with room under its caps and
// continuous dispatch running (a tick's background dispatcher refilling every refill_interval_ms);
// leads are POSTed one at a time to scheduler-admin (POST /campaigns/<id>/leads, priority 100) and
// each is timed from the POST to its create-call request arriving at the Twilio simulator (in this
// process). Twice: with no backlog, and with a backlog of due contacts (priority 0) being dialled at
// the account's rate. Invariants: every lead called exactly once; no backlog contact was reserved
// after a lead was added and before the lead was; the shared invariant checker.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startTwilioSimulator } from '../twilio-sim/server.ts';
import { startGateway } from '../../test/support/functions.ts';
import { BENCH_TWIML_URL, truncateAll } from './data.ts';
import { fmtInt, renderTable } from './report.ts';

export interface LeadRow {
  backlog: number;
  leads: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export interface LeadBenchOptions {
  /** Backlogs to measure with (0: none). */
  backlogs: number[];
  leads: number;
  log: (s: string) => void;
  onInvariantFailure: (where: string, failures: string[]) => void;
  poolerUrl?: string;
}

/** The p-th percentile (nearest rank) of `values`. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Whether `fn` comes true within `ms`, polled every few ms. */
async function until(fn: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return fn();
}

export async function benchLead(url: string, opts: LeadBenchOptions): Promise<LeadRow[]> {
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-lead' });
  await admin.connect();
  // The bench's numbers (+4420...) are called around the clock.
  const { rows: rules } = await admin.query<{ id: string }>(
    'update public.calling_hours_rules set enabled = false where enabled returning id',
  );
  // Calls ring and end within a few hundred ms: slots free up, the backlog keeps dialling.
  const sim = await startTwilioSimulator({ timeScale: 0.01, outcomes: { completed: 1, 'no-answer': 0, busy: 0, failed: 0 } });
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const cronSecret = `cron-${randomBytes(16).toString('hex')}`;
  let gw: Awaited<ReturnType<typeof startGateway>> | null = null;
  const killGateway = () => void gw?.child.kill('SIGKILL');
  process.once('SIGINT', killGateway);
  process.once('SIGTERM', killGateway);
  const rows: LeadRow[] = [];
  try {
    for (const backlog of opts.backlogs) {
      // A gateway per backlog: stopping it ends the previous background dispatcher.
      await gw?.stop('SIGKILL');
      await truncateAll(admin);
      gw = await startGateway({
        SUPABASE_DB_URL: opts.poolerUrl ?? url,
        CRON_SECRET: cronSecret,
        ADMIN_TOKEN: adminToken,
        TWILIO_ACCOUNT_SID: sim.accountSid,
        TWILIO_AUTH_TOKEN: sim.authToken,
        TWILIO_API_BASE_URL: sim.url,
        TICK_JITTER_MS: '0',
        ALLOW_INSECURE_URLS: '1',
      });
      sim.reset();
      // The defaults for the refill pace (refill_interval_ms); the account dials 20 calls a second.
      await admin.query(
        `update public.scheduler_settings
            set provider_calls_per_second = 20, global_max_concurrent_calls = 1000, background_dispatch_ms = 300000,
                tick_budget_ms = 1000, refill_interval_ms = 1000, max_calls_per_number_per_day = null`,
      );
      const { rows: made } = await admin.query<{ id: string }>(
        `insert into public.campaigns (name, status, max_concurrent_calls, caller_id, provider_settings, time_zone,
                                       window_start, window_end, window_days, max_attempts)
         values ('leads', 'RUNNING', 50, '+15550100000', jsonb_build_object('url', $1::text), 'UTC', '00:00', '23:59:59',
                 '{1,2,3,4,5,6,7}', 1)
         returning id::text`,
        [BENCH_TWIML_URL],
      );
      const campaign = made[0]!.id;
      await admin.query(
        `insert into public.contacts (campaign_id, phone, next_attempt_at)
         select $1, '+4420' || lpad(g::text, 8, '0'), now() - interval '1 hour' from generate_series(1, $2::integer) g`,
        [campaign, backlog],
      );
      // One contact due next year keeps the campaign open between leads (a campaign with nothing
      // left to call is completed, and a completed campaign takes no lead).
      await admin.query(
        `insert into public.contacts (campaign_id, phone, next_attempt_at) values ($1, '+442099999999', now() + interval '1 year')`,
        [campaign],
      );
      await admin.query('analyze public.contacts');
      // The tick starts continuous dispatch: its background part goes on refilling.
      const tick = await fetch(`${gw.url}/scheduler-tick`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cronSecret}` },
      });
      await tick.text();
      if (backlog > 0) await until(() => sim.calls().length >= Math.min(backlog, 20), 20_000);

      const latencies: number[] = [];
      const leadPhones: string[] = [];
      for (let i = 0; i < opts.leads; i++) {
        const phone = `+4479${String(10_000_000 + i).slice(-8)}`;
        leadPhones.push(phone);
        const postedAt = Date.now();
        const res = await fetch(`${gw.url}/scheduler-admin/campaigns/${campaign}/leads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ phone, priority: 100 }),
        });
        await res.text();
        if (res.status !== 201) throw new Error(`lead ${phone}: ${res.status}`);
        const arrived = await until(() => sim.calls().some((c) => c.to === phone), 30_000);
        if (!arrived) throw new Error(`lead ${phone} was not called within 30 s`);
        latencies.push(sim.calls().find((c) => c.to === phone)!.createdAt - postedAt);
        // Leads arrive a while apart (at a random point of the refill cycle).
        await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 500)));
      }

      const failures: string[] = [];
      const perLead = new Map<string, number>();
      for (const c of sim.calls()) if (leadPhones.includes(c.to)) perLead.set(c.to, (perLead.get(c.to) ?? 0) + 1);
      const notOnce = leadPhones.filter((p) => perLead.get(p) !== 1);
      if (notOnce.length > 0) failures.push(`leads not called exactly once: ${notOnce.length}`);
      const { rows: jumped } = await admin.query<{ n: number }>(
        `select count(*)::int as n
           from public.contacts ld
           join public.calls lc on lc.contact_id = ld.id
           join public.calls bc on bc.campaign_id = ld.campaign_id
           join public.contacts b on b.id = bc.contact_id and b.priority < ld.priority
          where ld.priority = 100 and bc.queued_at > ld.created_at and bc.queued_at < lc.queued_at`,
      );
      if (jumped[0]!.n > 0) failures.push(`backlog calls reserved after a lead arrived and before it: ${jumped[0]!.n}`);
      // The shared checker, allowing the run whose background dispatcher is still at work.
      const { rows: broken } = await admin.query<{ invariant: string; n: string }>(
        `select invariant, count(*) as n from tests.invariant_violations($1, true) group by invariant order by invariant`,
        [new Date()],
      );
      failures.push(...broken.map((b) => `${b.invariant}: ${b.n}`));
      if (failures.length > 0) opts.onInvariantFailure(`lead backlog ${backlog}`, failures);
      rows.push({
        backlog,
        leads: latencies.length,
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
        maxMs: Math.max(...latencies),
      });
      opts.log(
        `lead: backlog ${backlog}: p50 ${rows.at(-1)!.p50Ms} ms, p95 ${rows.at(-1)!.p95Ms} ms over ${latencies.length} leads`,
      );
    }
  } finally {
    process.off('SIGINT', killGateway);
    process.off('SIGTERM', killGateway);
    await gw?.stop('SIGKILL');
    await sim.close();
    if (rules.length) {
      await admin.query('update public.calling_hours_rules set enabled = true where id = any($1::bigint[])', [
        rules.map((r) => r.id),
      ]);
    }
    await admin.end();
  }
  return rows;
}

/** Speed to lead against its target: p95 <= 2 s with no backlog (reported, not judged). */
export function leadTable(rows: LeadRow[]): string {
  return renderTable(
    ['backlog (due contacts)', 'leads', 'p50 ms', 'p95 ms', 'max ms', 'target'],
    rows.map((r) => [
      fmtInt(r.backlog),
      fmtInt(r.leads),
      fmtInt(r.p50Ms),
      fmtInt(r.p95Ms),
      fmtInt(r.maxMs),
      r.backlog === 0 ? `p95 <= 2,000 ms: ${r.p95Ms <= 2000 ? 'met' : 'NOT met'}` : '-',
    ]),
  );
}
