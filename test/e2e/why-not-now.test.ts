// The dashboard's "Why not now" panel and machine-answer counts, end to end: the whole stack
// (simulator, Deno functions gateway, local Vercel) against the test database, real headless
// Chromium. Campaigns are set up so that each reason holds now (the view runs on the wall clock):
// paused with its reason, not started, a window that opens tomorrow in New York, a calling-hours
// rule closed for two days, do-not-call, attempts used, a retry delay, due contacts. The panel lists
// them per campaign with until when, in the campaign's zone. Calls answered by a machine show on the
// "Calls launched" card and in the campaign's row.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'why-not-now.png');
const ALL_DAY = `window_start => '00:00', window_end => '24:00', window_days => '{1,2,3,4,5,6,7}'`;

/** contact_wait_reasons as the database sees it, to compare the page with. */
let expected: Array<{ campaign_name: string; reason: string; contacts: string; opens_at: Date | null }> = [];

// The data is reset first, which also empties calling_hours_rules: the rules below are the only ones.
const dash = useDashboardStack({
  seed: async (c) => {
    const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];
    const campaign = async (name: string, extra = ALL_DAY, zone = 'UTC') =>
      (await one(`select tests.create_campaign(name => $1, time_zone => $2, ${extra})::text as id`, [name, zone])).id as string;
    const contact = (id: string, phone: string, next = "now() - interval '1 minute'") =>
      c.query(`select tests.add_contact($1::bigint, $2, next_attempt_at => ${next})`, [id, phone]);

    // Machine answers (first: tests.launch reserves whatever is due): three calls of 'Machine land', two answered by a machine (one ended 2 hours ago).
    const machines = await campaign('Machine land');
    for (const phone of ['+15550002001', '+15550002002', '+15550002003']) await contact(machines, phone);
    await c.query(`select tests.launch(now())`);
    await c.query(
      `with k as (select id, row_number() over (order by id) as n from public.calls where campaign_id = $1)
       update public.calls cl
          set status = 'completed', dialed_at = now() - interval '3 hours',
              ended_at = now() - case when k.n = 1 then interval '2 hours' else interval '1 minute' end,
              answered_by = (array['machine_end_beep', 'fax', 'human'])[k.n]
         from k where k.id = cl.id`,
      [machines],
    );
    const paused = await campaign('Paused by Twilio');
    await c.query(
      `update public.campaigns set status = 'PAUSED', paused_reason = 'the caller id (From) is not verified' where id = $1`,
      [paused],
    );
    await contact(paused, '+15550001001');
    await contact(paused, '+15550001002');

    const later = await campaign('Starts later');
    await c.query(`update public.campaigns set starts_at = now() + interval '2 days' where id = $1`, [later]);
    await contact(later, '+15550001003');

    // 09:00-17:00 on tomorrow's weekday only, in New York: closed now, opens tomorrow at 09:00 there.
    const tomorrow =
      (await one(`select extract(isodow from (now() at time zone 'America/New_York') + interval '1 day')::int as d`)).d;
    const windowed = await campaign(
      'New York mornings',
      `window_start => '09:00', window_end => '17:00', window_days => '{${tomorrow}}'`,
      'America/New_York',
    );
    await contact(windowed, '+15550001004');
    await contact(windowed, '+15550001005');

    // A rule for +9999 with today and tomorrow (UTC) as holidays: quiet hours for two days. +9999
    // numbers have no zone data: the rule holds in the campaign's zone (UTC), and the page says so.
    await c.query(
      `insert into public.calling_hours_rules (prefix, start_time, end_time, holidays, note)
       values ('+9999', '00:00', '24:00', array[(now() at time zone 'UTC')::date, (now() at time zone 'UTC')::date + 1], 'e2e')`,
    );
    const mixed = await campaign('Mixed');
    await contact(mixed, '+99995550100');
    await contact(mixed, '+15550001006');
    await c.query(`insert into public.do_not_call_numbers (phone) values ('+15550001006')`);
    await contact(mixed, '+15550001007', "now() + interval '3 hours'");
    const used = (await one(`select tests.add_contact($1::bigint, '+15550001008')::text as id`, [mixed])).id;
    await c.query(`update public.contacts set status = 'exhausted', attempts = 3 where id = $1`, [used]);
    await contact(mixed, '+15550001009');
    await contact(mixed, '+15550001010');

    expected = (await c.query(
      `select campaign_name, reason, contacts::text, opens_at from public.contact_wait_reasons order by campaign_id, reason`,
    )).rows;
  },
});

async function signedIn(): Promise<Page> {
  const page = await dash.freshPage({ viewport: { width: 1280, height: 1400 } });
  await dash.signIn(page);
  await page.getByTestId('wait-row').first().waitFor();
  return page;
}

describe('why not now', () => {
  it('the database sees every reason the page should show', () => {
    expect(expected.map((r) => `${r.campaign_name}: ${r.reason} ${r.contacts}`)).toEqual([
      'Paused by Twilio: campaign paused 2',
      'Starts later: campaign not started 1',
      'New York mornings: window closed 2',
      'Mixed: attempts used 1',
      'Mixed: do-not-call 1',
      'Mixed: due 2',
      'Mixed: quiet hours 1',
      'Mixed: retry later 1',
    ]);
  });

  it('lists per campaign the contacts waiting, why, and until when in the campaign zone', async () => {
    const page = await signedIn();
    const rows = await page.getByTestId('wait-row').evaluateAll((trs) =>
      trs.map((tr) => ({
        campaign: (tr as HTMLElement).dataset.campaign,
        reason: (tr as HTMLElement).dataset.reason,
        opensAt: (tr as HTMLElement).dataset.opensAt ?? null,
        cells: [...tr.children].map((td) => (td.textContent ?? '').trim()),
      }))
    );
    // Same rows as the view (ordered by campaign, most contacts first), the campaign named once.
    expect(rows.map((r) => `${r.campaign}: ${r.reason} ${r.cells[2]}`).sort()).toEqual(
      expected.map((r) => `${r.campaign_name}: ${r.reason} ${r.contacts}`).sort(),
    );
    for (const r of rows) {
      const e = expected.find((x) => x.campaign_name === r.campaign && x.reason === r.reason)!;
      expect(r.opensAt === null ? null : new Date(r.opensAt).getTime(), `${r.campaign} ${r.reason}`).toBe(
        e.opens_at === null ? null : e.opens_at.getTime(),
      );
    }
    const by = (campaign: string, reason: string) => rows.find((r) => r.campaign === campaign && r.reason === reason)!;
    expect(by('Paused by Twilio', 'campaign paused').cells).toEqual([
      'Paused by Twilio',
      'Campaign paused',
      '2',
      'the caller id (From) is not verified',
    ]);
    const window = by('New York mornings', 'window closed').cells;
    expect(window.slice(0, 3)).toEqual(['New York mornings', 'Calling window closed', '2']);
    expect(window[3]).toMatch(/^opens \w{3}, \w{3} \d{1,2}, 09:00 AM America\/New_York$/);
    expect(by('Starts later', 'campaign not started').cells[3]).toMatch(/^starts .+ UTC$/);
    expect(by('Mixed', 'quiet hours').cells[1]).toBe('Calling-hours rule (quiet hours)');
    expect(by('Mixed', 'quiet hours').cells[3]).toMatch(
      /^in UTC \(the campaign's zone: no zone data for the number\) until 00:00; opens \w{3}, \w{3} \d{1,2}, 12:00 AM UTC$/,
    );
    expect(by('Mixed', 'retry later').cells[3]).toMatch(/^next attempt from .+ UTC$/);
    expect(by('Mixed', 'do-not-call').cells.slice(1)).toEqual(['On the do-not-call list', '1', '']);
    expect(by('Mixed', 'attempts used').cells.slice(1)).toEqual(['All attempts used', '1', '']);
    expect(by('Mixed', 'due').cells.slice(1)).toEqual(['Due: waiting for a free slot', '2', '']);
    // The campaign's name heads its group only.
    expect(rows.filter((r) => r.cells[0] === 'Mixed')).toHaveLength(1);

    // Refresh: a change in the database shows without reloading the page.
    await withClient((c) => c.query(`insert into public.do_not_call_numbers (phone) values ('+15550001009')`));
    await page.getByTestId('wait-refresh').click();
    const cell = (reason: string) => `[data-testid="wait-row"][data-campaign="Mixed"][data-reason="${reason}"] td.num`;
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '2', cell('do-not-call'));
    expect(await page.locator(cell('due')).textContent()).toBe('1');

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.getByTestId('why-not-now').screenshot({ path: SCREENSHOT });
  });

  it('shows calls answered by a machine: in all (last hour, last day) and per campaign', async () => {
    const page = await signedIn();
    await expect.poll(() => page.getByTestId('machine-answers').textContent()).toBe(
      'Answered by a machine: 1 in the last hour, 2 in the last day',
    );
    const row = page.getByTestId('campaign-row').filter({ hasText: 'Machine land' });
    expect(await row.getByTestId('campaign-machine-answers').textContent()).toBe('2');
    expect(await row.getByTestId('campaign-machine-answers').getAttribute('title')).toBe('1 in the last hour');
  });
});
