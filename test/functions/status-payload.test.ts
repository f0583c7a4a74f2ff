// The dashboard's status payload, typed on both sides: scheduler-admin GET /status answers exactly
// the shape of StatusPayload (supabase/functions/_shared/status.ts), which the dashboard's modules
// (public/js/) import through JSDoc. The column maps below are checked by tsc against the types
// (every field, no extra one, and its kind); this test checks them against what the real views answer.

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import type {
  CampaignProgressRow,
  ContactWaitRow,
  RunRow,
  SchedulerStatusRow,
  StatusPayload,
  TickResponseBody,
  WaitReasonsPayload,
} from '../../supabase/functions/_shared/status.ts';
import { VERSION } from '../../supabase/functions/_shared/version.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { connect, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, startGateway } from '../support/functions.ts';

type Kind = 'string' | 'number' | 'boolean' | 'object';
type KindOf<T> = NonNullable<T> extends number ? 'number'
  : NonNullable<T> extends boolean ? 'boolean'
  : NonNullable<T> extends string ? 'string'
  : 'object';
type Columns<Row> = { [K in keyof Row]-?: KindOf<Row[K]> };

const statusColumns: Columns<SchedulerStatusRow> = {
  last_run_id: 'string',
  last_run_trigger: 'string',
  last_run_status: 'string',
  last_run_started_at: 'string',
  last_run_finished_at: 'string',
  last_run_duration_ms: 'number',
  last_run_calls_reserved: 'number',
  last_run_calls_launched: 'number',
  last_run_error_count: 'number',
  last_run_errors: 'object',
  next_run_at: 'string',
  cron_job_active: 'boolean',
  calls_launched_last_hour: 'string',
  calls_launched_last_day: 'string',
  calls_completed_last_day: 'string',
  runs_last_hour: 'string',
  failed_runs_last_hour: 'string',
  skipped_runs_last_hour: 'string',
  duplicate_runs_last_hour: 'string',
  run_error_rate_last_hour: 'string',
  active_calls: 'string',
  global_max_concurrent_calls: 'number',
  queued_calls: 'string',
  active_campaigns: 'string',
  breaker_state: 'string',
  breaker_open_until: 'string',
  machine_answers_last_hour: 'string',
  machine_answers_last_day: 'string',
};

const campaignColumns: Columns<CampaignProgressRow> = {
  campaign_id: 'string',
  name: 'string',
  status: 'string',
  priority: 'number',
  max_concurrent_calls: 'number',
  active_calls: 'string',
  queued_calls: 'string',
  contacts_total: 'string',
  contacts_pending: 'string',
  contacts_in_progress: 'string',
  contacts_done: 'string',
  contacts_exhausted: 'string',
  contacts_invalid: 'string',
  contacts_do_not_call: 'string',
  contacts_remaining: 'string',
  last_served_at: 'string',
  started_at: 'string',
  completed_at: 'string',
  starts_at: 'string',
  ends_at: 'string',
  paused_reason: 'string',
  paused_at: 'string',
  machine_answers_last_hour: 'string',
  machine_answers_last_day: 'string',
};

const runColumns: Columns<RunRow> = {
  id: 'string',
  trigger: 'string',
  scheduled_for: 'string',
  status: 'string',
  started_at: 'string',
  finished_at: 'string',
  duration_ms: 'number',
  campaigns_processed: 'number',
  calls_reserved: 'number',
  calls_launched: 'number',
  calls_failed: 'number',
  calls_unknown: 'number',
  calls_requeued: 'number',
  calls_released: 'number',
  calls_expired: 'number',
  campaigns_completed: 'number',
  breaker_state: 'string',
  duplicate_of: 'string',
  error_count: 'number',
  errors: 'object',
};

const waitColumns: Columns<ContactWaitRow> = {
  campaign_id: 'string',
  campaign_name: 'string',
  reason: 'string',
  detail: 'string',
  contacts: 'string',
  next_attempt_at: 'string',
  opens_at: 'string',
  time_zone: 'string',
  no_zone_data: 'string',
};

const tickColumns: Columns<TickResponseBody> = {
  run_id: 'string',
  status: 'string',
  skipped: 'boolean',
  duplicate_of: 'string',
  processed: 'number',
  launched: 'number',
  reserved: 'number',
  failed: 'number',
  unknown: 'number',
  requeued: 'number',
  released: 'number',
  expired: 'number',
  completed: 'number',
  breaker: 'string',
  deadline_reached: 'boolean',
  continues_until: 'string',
  duration_ms: 'number',
  errors: 'object',
};

/** Fields of `row` whose name or kind disagrees with `columns` (null fits every kind). */
function mismatches(row: Record<string, unknown>, columns: Record<string, Kind>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(columns)) if (!(k in row)) out.push(`${k}: missing`);
  for (const [k, v] of Object.entries(row)) {
    if (!(k in columns)) out.push(`${k}: not in the type`);
    else if (v !== null && typeof v !== columns[k]) out.push(`${k}: ${typeof v}, typed ${columns[k]}`);
  }
  return out;
}

let sim: TwilioSimulator;
let gw: Gateway;
let db: pg.Client;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await connect();
  await resetData(db);
  sim = await startTwilioSimulator({ seed: 5, callbacks: false });
  env = functionsEnv(sim);
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await db?.end();
});

describe('the status payload', () => {
  it('has exactly the fields, and kinds, StatusPayload and TickResponseBody declare', async () => {
    const campaign = await createCampaign(db, { cap: 2 });
    await addContacts(db, campaign, 3);
    const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

    const trigger = await fetch(`${gw.url}/scheduler-admin/trigger`, { method: 'POST', headers: auth });
    expect(trigger.status).toBe(200);
    const tick = (await trigger.json()) as TickResponseBody;
    expect(mismatches(tick as unknown as Record<string, unknown>, tickColumns)).toEqual([]);
    expect(tick).toMatchObject({ status: 'ok', reserved: 2, launched: 2 });

    const res = await fetch(`${gw.url}/scheduler-admin/status`, { headers: auth });
    expect(res.status).toBe(200);
    const payload = (await res.json()) as StatusPayload;
    expect(Object.keys(payload).sort()).toEqual(['campaigns', 'now', 'pause', 'runs', 'status', 'version']);
    expect(typeof payload.now).toBe('string');
    expect(payload.version).toBe(VERSION);
    expect(payload.pause).toEqual({ paused_at: null, paused_reason: null });
    expect(mismatches(payload.status as unknown as Record<string, unknown>, statusColumns)).toEqual([]);
    expect(payload.campaigns).toHaveLength(1);
    expect(mismatches(payload.campaigns[0] as unknown as Record<string, unknown>, campaignColumns)).toEqual([]);
    expect(payload.runs).toHaveLength(1);
    expect(mismatches(payload.runs[0] as unknown as Record<string, unknown>, runColumns)).toEqual([]);
    // The run log's calls_launched is the tick's launched count (accepted by the provider).
    expect(payload.runs[0]!.calls_launched).toBe(tick.launched);
    expect(payload.runs[0]!.calls_reserved).toBe(tick.reserved);

    // Why not now: the campaign's third contact is due (no room under its cap of 2).
    const waiting = await fetch(`${gw.url}/scheduler-admin/wait-reasons`, { headers: auth });
    expect(waiting.status).toBe(200);
    const why = (await waiting.json()) as WaitReasonsPayload;
    expect(Object.keys(why).sort()).toEqual(['now', 'reasons']);
    expect(why.reasons).toHaveLength(1);
    expect(mismatches(why.reasons[0] as unknown as Record<string, unknown>, waitColumns)).toEqual([]);
    expect(why.reasons[0]).toMatchObject({ campaign_id: campaign, reason: 'due', contacts: '1', opens_at: null });
    expect((await fetch(`${gw.url}/scheduler-admin/wait-reasons`)).status).toBe(401);
  });
});
