// Every setting public.campaigns has can be set: each column is either a field of the API's campaign
// schema, applied by _apply_campaign_fields(), given by a CLI flag and a control of the dashboard's
// form, or on the explicit list of columns the scheduler owns. A new column that is neither fails here.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CAMPAIGN_CONSTRAINT_FIELDS,
  CampaignFields,
  SERVER_OWNED_CAMPAIGN_COLUMNS,
} from '../../supabase/functions/_shared/campaign-schema.ts';
import { fieldsFromFlags } from '../../scripts/campaign.ts';
import { connect } from '../support/db.ts';

let db: pg.Client;
beforeAll(async () => {
  db = await connect();
});
afterAll(async () => {
  await db?.end();
});

async function columns(): Promise<string[]> {
  const { rows } = await db.query<{ column_name: string }>(
    `select column_name from information_schema.columns
      where table_schema = 'public' and table_name = 'campaigns' order by ordinal_position`,
  );
  return rows.map((r) => r.column_name);
}

describe('campaign settings', () => {
  it('each column of public.campaigns is a field of the API schema or owned by the scheduler', async () => {
    const all = await columns();
    expect(all.length).toBeGreaterThan(20);
    const owned = new Set<string>(SERVER_OWNED_CAMPAIGN_COLUMNS);
    const settable = all.filter((c) => !owned.has(c));
    const fields = Object.keys(CampaignFields.shape).sort();
    expect(fields).toEqual([...settable].sort());
    // The allow-list names real columns only (a dropped column leaves no stale entry).
    expect(SERVER_OWNED_CAMPAIGN_COLUMNS.filter((c) => !all.includes(c))).toEqual([]);
  });

  it('_apply_campaign_fields() writes every field of the schema', async () => {
    const { rows } = await db.query<{ def: string }>(
      `select pg_get_functiondef('public._apply_campaign_fields(bigint, jsonb, timestamptz)'::regprocedure) as def`,
    );
    const missing = Object.keys(CampaignFields.shape).filter((f) => !rows[0]!.def.includes(`p_fields ? '${f}'`));
    expect(missing).toEqual([]);
  });

  it('the CLI has a flag for every field', () => {
    const fromFlags = fieldsFromFlags({
      name: 'n',
      cap: '1',
      priority: '0',
      provider: 'twilio',
      account: 'default',
      'caller-id': '+15551230000',
      url: 'https://flow.example/answer',
      'machine-detection': 'Enable',
      'ring-timeout': '30',
      'time-zone': 'UTC',
      window: '09:00-17:00',
      days: '1,2',
      'max-attempts': '2',
      'retry-busy': '10 minutes',
      'retry-no-answer': '2 hours',
      'retry-machine': '4 hours',
      'retry-failed': '30 minutes',
      starts: 'none',
      ends: 'none',
      purpose: 'none',
      'requires-consent': 'no',
      'machine-answers': 'done',
    });
    expect(Object.keys(CampaignFields.shape).filter((f) => !(f in fromFlags))).toEqual([]);
    expect(fromFlags).toMatchObject({
      provider_settings: { url: 'https://flow.example/answer', machine_detection: 'Enable', timeout: 30 },
      machine_answer_policy: 'done',
    });
  });

  it("the dashboard's campaign form has a control for every field", () => {
    const html = readFileSync(path.join(import.meta.dirname, '..', '..', 'public', 'index.html'), 'utf8');
    const start = html.indexOf('<form id="campaign-form"');
    const form = html.slice(start, html.indexOf('</form>', start));
    const names = new Set([...form.matchAll(/\bname="([a-z_]+)"/g)].map((m) => m[1]!));
    // Fields the form sets through a control of another name.
    const control: Record<string, string> = { provider_settings: 'action_kind', window_days: 'day' };
    // provider: one provider is known (campaigns_provider_is_known), so the form sends none and the
    // table's default stands; the API and the CLI (--provider) take it.
    const notInForm = new Set(['provider']);
    const missing = Object.keys(CampaignFields.shape).filter((f) => !notInForm.has(f) && !names.has(control[f] ?? f));
    expect(missing).toEqual([]);
  });

  it('each CHECK constraint of public.campaigns names the field a refusal points at', async () => {
    const { rows } = await db.query<{ conname: string }>(
      `select conname from pg_constraint where conrelid = 'public.campaigns'::regclass and contype in ('c', 'f')`,
    );
    const unnamed = rows.map((r) => r.conname).filter((c) => !(c in CAMPAIGN_CONSTRAINT_FIELDS));
    // It guards what the scheduler alone writes.
    expect(unnamed.sort()).toEqual(['campaigns_paused_reason_only_when_paused']);
  });
});
