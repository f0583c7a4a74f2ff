// scheduler-metrics over real HTTP: Prometheus text read from the monitoring views, behind
// METRICS_TOKEN, public only with METRICS_PUBLIC=true, closed (401) with neither.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { addContacts, createCampaign } from '../support/builders.ts';
import { FAST_SETTINGS, newPool, resetData, updateSettings } from '../support/db.ts';
import {
  functionsEnv,
  type Gateway,
  postTick,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { request } from '../support/net.ts';

const SECRET = randomSecret();
const METRICS_TOKEN = randomSecret();

let pool: pg.Pool;
let sim: TwilioSimulator;
let open: Gateway;
let guarded: Gateway;
let closed: Gateway;

/** Prometheus text -> sample lines keyed by metric name with labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
    out.set(m![1]!, Number(m![2]));
  }
  return out;
}

beforeAll(async () => {
  pool = newPool(4);
  sim = await startSim({ callbacks: false });
  open = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET, METRICS_PUBLIC: 'true' }));
  guarded = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET, METRICS_TOKEN }));
  closed = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET }));
});

afterAll(async () => {
  await open?.stop();
  await guarded?.stop();
  await closed?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(pool);
  await updateSettings(pool, FAST_SETTINGS);
});

describe('scheduler-metrics', () => {
  it('GET -> 200 text/plain in the Prometheus format, reflecting the last run and the active calls', async () => {
    const campaign = await createCampaign(pool, { cap: 3 });
    await addContacts(pool, campaign, 5);
    const tick = await postTick(open, SECRET);
    expect(tick.json).toMatchObject({ status: 'ok', launched: 3 });

    const a = await request(`${open.url}/scheduler-metrics`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(a.text).toMatch(
      /^# HELP scheduler_last_run_timestamp_seconds .+\n# TYPE scheduler_last_run_timestamp_seconds gauge\n/m,
    );
    const m = samples(a.text);
    const { rows } = await pool.query(
      'select extract(epoch from started_at)::float8 as t from public.scheduler_runs where id = $1',
      [
        tick.json.run_id,
      ],
    );
    expect(m.get('scheduler_last_run_timestamp_seconds')).toBeCloseTo(rows[0].t, 2);
    expect(m.get('scheduler_last_run_success')).toBe(1);
    expect(m.get('scheduler_active_calls')).toBe(3); // no callbacks: the three calls are still active
    expect(m.get('scheduler_queued_calls')).toBe(0);
    expect(m.get('scheduler_active_campaigns')).toBe(1);
    expect(m.get('scheduler_breaker_open')).toBe(0);
    expect(m.get('scheduler_global_max_concurrent_calls')).toBe(100);
    expect(m.get('scheduler_calls_launched_last_hour')).toBe(3);
    expect(m.get('scheduler_runs_total{trigger="local",status="ok"}')).toBe(1);
    expect(m.get('scheduler_calls_launched_total{trigger="local"}')).toBe(3);
    expect(m.get(`scheduler_campaign_active_calls{campaign_id="${campaign}"}`)).toBe(3);
    expect(m.get(`scheduler_campaign_max_concurrent_calls{campaign_id="${campaign}"}`)).toBe(3);
    expect(m.get(`scheduler_campaign_contacts_remaining{campaign_id="${campaign}"}`)).toBe(5);
    for (
      const name of [
        'scheduler_last_run_duration_seconds',
        'scheduler_next_run_timestamp_seconds',
        'scheduler_calls_launched_last_day',
        'scheduler_run_error_rate_last_hour',
      ]
    ) {
      expect(m.has(name), name).toBe(true);
    }
  });

  it('counts calls answered by a machine (machine_* or fax) from the call rows, in all and per campaign', async () => {
    const campaign = await createCampaign(pool, { cap: 10 });
    const other = await createCampaign(pool, { cap: 10 });
    await addContacts(pool, campaign, 5);
    await addContacts(pool, other, 1);
    expect((await postTick(open, SECRET)).json).toMatchObject({ status: 'ok', launched: 6 });
    // The callbacks' outcome, written as apply_call_status leaves it: who answered, and when the call ended.
    await pool.query(
      `with c as (select id, campaign_id, row_number() over (order by campaign_id, id) as n from public.calls)
       update public.calls cl
          set status = 'completed', ended_at = now() - case when c.n = 4 then interval '2 hours' else interval '1 minute' end,
              answered_by = (array['machine_end_beep', 'fax', 'human', 'machine_start', 'unknown', 'machine_end_other'])[c.n]
         from c where c.id = cl.id`,
    );
    const m = samples((await request(`${open.url}/scheduler-metrics`)).text);
    expect(m.get('scheduler_machine_answers_last_hour')).toBe(3); // beep, fax, other (machine_start ended 2 h ago)
    expect(m.get('scheduler_machine_answers_last_day')).toBe(4);
    expect(m.get(`scheduler_campaign_machine_answers_last_day{campaign_id="${campaign}"}`)).toBe(3);
    expect(m.get(`scheduler_campaign_machine_answers_last_day{campaign_id="${other}"}`)).toBe(1);
  });

  it('answers an empty system with zeros, not an error', async () => {
    const a = await request(`${open.url}/scheduler-metrics`);
    expect(a.status).toBe(200);
    const m = samples(a.text);
    expect(m.get('scheduler_last_run_timestamp_seconds')).toBe(0);
    expect(m.get('scheduler_active_calls')).toBe(0);
  });

  it('only GET', async () => {
    const a = await request(`${open.url}/scheduler-metrics`, { method: 'POST' });
    expect(a.status).toBe(405);
    expect(a.headers.get('allow')).toBe('GET');
  });

  it('closed by default: without METRICS_TOKEN and METRICS_PUBLIC -> 401 metrics_closed for everyone, and the start-up log says how to open it', async () => {
    for (
      const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }, { authorization: `Bearer ${SECRET}` }] as Array<
        Record<string, string>
      >
    ) {
      const a = await request(`${closed.url}/scheduler-metrics`, { headers });
      expect(a.status).toBe(401);
      expect(a.json).toMatchObject({ error: 'metrics_closed' });
      expect(a.text).not.toContain('scheduler_active_calls');
      expect(String(a.json.message)).toMatch(/METRICS_TOKEN/);
      expect(String(a.json.message)).toMatch(/METRICS_PUBLIC=true/);
    }
    const notice = closed.events('metrics_closed');
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatchObject({ level: 'warn', service: 'scheduler-metrics' });
    expect(String(notice[0]!.message)).toMatch(/METRICS_TOKEN.*METRICS_PUBLIC=true/);
    // The public one says so at start-up too.
    expect(open.events('metrics_public')).toHaveLength(1);
  });

  it('with METRICS_TOKEN set -> 401 without the token or with a wrong one, 200 with it', async () => {
    const none = await request(`${guarded.url}/scheduler-metrics`);
    expect(none.status).toBe(401);
    expect(none.text).not.toContain('scheduler_');
    for (const wrong of [randomSecret(), METRICS_TOKEN.slice(0, -1), `${METRICS_TOKEN}x`, METRICS_TOKEN.toUpperCase()]) {
      const a = await request(`${guarded.url}/scheduler-metrics`, { headers: { authorization: `Bearer ${wrong}` } });
      expect(a.status).toBe(401);
    }
    // The cron secret is not the metrics token.
    expect((await request(`${guarded.url}/scheduler-metrics`, { headers: { authorization: `Bearer ${SECRET}` } })).status).toBe(
      401,
    );
    const ok = await request(`${guarded.url}/scheduler-metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('scheduler_active_calls 0');
    for (const line of guarded.logs) expect(line).not.toContain(METRICS_TOKEN);
  });
});
