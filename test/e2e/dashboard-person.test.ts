// The dashboard's "Find a person" panel, end to end in real headless Chromium against the whole
// stack (simulator, Deno functions gateway, local Vercel, the test database). One number is a
// contact of two campaigns: a running one where its first attempt ended busy (so it waits for its
// retry delay) and a paused one. Searched by the number typed with spaces (Enter submits) and by a
// contact id (as a viewer): the page shows both contacts, why each waits and until when in the
// browser's zone, the attempt's row and, opened from the keyboard, the evidence of what allowed it.
// A malformed number shows the API's message; an unknown id and a number without contacts say so.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { useDashboardStack } from './dashboard-stack.ts';
import { withClient } from '../support/db.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard-person.png');

const PHONE = '+99955503001';
const LISTED = '+99955503999';
const PROVIDER_CALL_ID = 'CA0000000000000000000000000000e2e1';
const BROWSER_ZONE = 'America/New_York';
const ALL_DAY = `window_start => '00:00', window_end => '24:00', window_days => '{1,2,3,4,5,6,7}'`;

const seeded = { running: '', paused: '', callId: '', ruleId: '', until: '' };

// resetData empties calling_hours_rules: the rule below is the only one, so the call's evidence names it.
const dash = useDashboardStack({
  seed: async (c) => {
    const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];
    seeded.ruleId = String(
      (await one(
        `insert into public.calling_hours_rules (prefix, start_time, end_time, note)
         values ('+9995', '00:00', '24:00', 'e2e') returning id`,
      )).id,
    );
    const campaign = await one(
      `select tests.create_campaign(name => 'Winter drive', time_zone => 'UTC', ${ALL_DAY})::text as id`,
    );
    seeded.running = (await one(
      `select tests.add_contact($1::bigint, $2, next_attempt_at => now() - interval '1 minute')::text as id`,
      [campaign.id, PHONE],
    )).id;
    // Reserve and dial it (with its evidence), then end it busy: pending again, retry in an hour.
    await c.query(`select tests.launch(now())`);
    await c.query(`select tests.end_active_calls($1::bigint, 'busy', now())`, [campaign.id]);
    const call = await one(
      `update public.calls set provider_call_id = $2 where contact_id = $1 returning id::text`,
      [seeded.running, PROVIDER_CALL_ID],
    );
    seeded.callId = call.id;
    seeded.until = (await one(`select next_attempt_at from public.contacts where id = $1`, [seeded.running]))
      .next_attempt_at.toISOString();

    const paused = await one(
      `select tests.create_campaign(name => 'Spring drive', status => 'PAUSED', time_zone => 'UTC', ${ALL_DAY})::text as id`,
    );
    seeded.paused = (await one(`select tests.add_contact($1::bigint, $2)::text as id`, [paused.id, PHONE])).id;

    await c.query(`insert into public.do_not_call_numbers (phone, reason) values ($1, 'asked by letter')`, [LISTED]);
  },
});

async function signedIn(token?: string, opts: { width?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<Page> {
  const page = await dash.freshPage({
    timezoneId: BROWSER_ZONE,
    viewport: { width: opts.width ?? 1280, height: 1000 },
    colorScheme: opts.colorScheme ?? 'light',
  });
  await dash.signIn(page, token);
  await page.getByTestId('person').waitFor({ state: 'visible', timeout: 15_000 });
  await page.getByTestId('whoami-role').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

/** Types the query and submits it with Enter. */
async function search(page: Page, query: string): Promise<void> {
  await page.getByTestId('person-query').fill(query);
  await page.getByTestId('person-query').press('Enter');
}

const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).first().textContent()) ?? '').trim();

/** The browser's wall-clock time of an instant ("05:53:57 PM"), in the zone the page runs in. */
const localClock = (iso: string) =>
  new Date(iso).toLocaleTimeString('en-US', { timeZone: BROWSER_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .replace(/\s+/g, ' ');

/** The person's story as the page shows it. */
async function story(page: Page) {
  await expect.poll(() => text(page, 'person-result'), { timeout: 15_000 }).toBe(`${PHONE}: 2 contacts.`);
  expect(await text(page, 'person-phone')).toBe(PHONE);
  expect(await text(page, 'person-dnc')).toBe('Not on the do-not-call list.');
  const contacts = page.getByTestId('person-contact');
  expect(await contacts.count()).toBe(2);
  // Newest first: the paused campaign's contact, never called.
  const paused = contacts.nth(0);
  expect(await paused.getAttribute('data-contact-id')).toBe(seeded.paused);
  expect(await paused.locator('h4').textContent()).toBe('Spring drive paused');
  expect(await paused.getByTestId('person-attempts').innerText()).toBe('0 of 3');
  expect(await paused.getByTestId('person-why').innerText()).toBe('Not called now: campaign paused.');
  expect(await paused.getByTestId('person-calls').count()).toBe(0);

  const running = contacts.nth(1);
  expect(await running.getAttribute('data-contact-id')).toBe(seeded.running);
  expect(await running.locator('h4').textContent()).toBe('Winter drive running');
  expect(await running.getByTestId('person-contact-id').innerText()).toBe(seeded.running);
  expect(await running.getByTestId('person-contact-status').textContent()).toBe('pending');
  expect(await running.getByTestId('person-attempts').innerText()).toBe('1 of 3');
  const why = await running.getByTestId('person-why').innerText();
  expect(why).toMatch(/^Not called now: retry later, until \w{3} \d{1,2}, .+ \(your time\)\.$/);
  // Until when, in the browser's zone (New York), not UTC.
  expect(why.replace(/\s+/g, ' ')).toContain(localClock(seeded.until));
  const title = (await running.getByTestId('person-why').getAttribute('title')) ?? '';
  expect(Math.abs(Date.parse(title) - Date.parse(seeded.until))).toBeLessThan(1);
  return running;
}

describe('dashboard: find a person', () => {
  it('finds a number typed with spaces: both contacts, why each waits, the attempt and its evidence', async () => {
    const page = await signedIn();
    // The label names the search box.
    expect(await page.getByLabel('Phone number or contact id').count()).toBe(1);
    await search(page, '+999 555 03001');
    const running = await story(page);

    const headers = await running.getByTestId('person-calls').locator('thead th').allInnerTexts();
    expect(headers.map((h) => h.trim().toLowerCase())).toEqual([
      'attempt',
      'status',
      'dialled',
      'duration',
      'answered by',
      'provider call id',
      'error',
    ]);
    const row = running.getByTestId('person-call');
    expect(await row.count()).toBe(1);
    expect(await row.getAttribute('data-call-id')).toBe(seeded.callId);
    const cells = (await row.locator('th, td').allTextContents()).map((t) => t.trim());
    expect(cells[0]).toBe('1');
    expect(cells[1]).toBe('busy');
    expect(cells[2]).toMatch(/^\w{3} \d{1,2}, \d{2}:\d{2}:\d{2}\s?[AP]M$/);
    expect(cells.slice(3)).toEqual(['–', '–', PROVIDER_CALL_ID, '–']);

    // The evidence: closed at first, opened from the keyboard.
    const evidence = running.getByTestId('person-evidence');
    expect(await evidence.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
    await evidence.locator('summary').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => evidence.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    expect(await evidence.getByTestId('person-evidence-zones').innerText()).toBe(
      "UTC (the campaign's zone: no zone data for the number)",
    );
    expect(await evidence.getByTestId('person-evidence-rule').allInnerTexts()).toEqual([
      `rule ${seeded.ruleId}: prefix +9995, calls from 00:00 until 24:00`,
    ]);
    expect(await evidence.innerText()).toMatch(/Checked at\s+\w{3} \d{1,2}, \d{2}:\d{2}:\d{2}/);

    // The attempts table scrolls in its own box, which the keyboard can reach.
    const wrap = running.locator('.table-wrap');
    expect(await wrap.getAttribute('tabindex')).toBe('0');
    expect(await wrap.getAttribute('aria-label')).toBe(`Attempts of contact ${seeded.running}`);
    await page.context().close();
  });

  it('a viewer finds the same person by contact id; an unknown id says so', async () => {
    const res = await fetch(`${dash.stack.functionsUrl}/scheduler-admin/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dash.stack.secrets.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `person-viewer-${Date.now()}`, role: 'viewer' }),
    });
    expect(res.status).toBe(201);
    const page = await signedIn(((await res.json()) as { token: string }).token);
    expect(await text(page, 'whoami-role')).toBe('viewer');
    expect(await page.getByTestId('person-search').isDisabled()).toBe(false);
    await search(page, seeded.running);
    const running = await story(page);
    // A viewer cannot schedule a callback: the form is there, disabled, saying why.
    expect(await running.getByTestId('person-callback-save').isDisabled()).toBe(true);
    expect(await running.getByTestId('person-callback-save').getAttribute('title')).toMatch(/^Needs the operator role/);

    await search(page, '999999');
    await expect.poll(() => text(page, 'person-result'), { timeout: 15_000 }).toBe('Contact 999999: no contact with that id.');
    expect(await page.getByTestId('person-contact').count()).toBe(0);
    await page.context().close();
  });

  it("a malformed number shows the API's message; a number without contacts says so, with its do-not-call entry", async () => {
    const page = await signedIn();
    await search(page, 'hello');
    await expect.poll(() => text(page, 'person-result'), { timeout: 15_000 }).toMatch(
      /^Cannot search: phone: a number in E\.164 form, e\.g\. \+14155550100 \(spaces, dashes and parentheses are ignored\)\.$/,
    );
    expect(await page.getByTestId('person-story').innerText()).toBe('');

    // The Search button does the same as Enter.
    await page.getByTestId('person-query').fill(`(${LISTED.slice(0, 4)}) ${LISTED.slice(4, 7)}-${LISTED.slice(7)}`);
    await page.getByTestId('person-search').click();
    await expect.poll(() => text(page, 'person-result'), { timeout: 15_000 }).toBe(`${LISTED}: no contact has this number.`);
    expect(await text(page, 'person-dnc')).toMatch(/^On the do-not-call list since .+: asked by letter\.$/);
    expect(await page.getByTestId('person-contact').count()).toBe(0);
    await page.context().close();
  });

  it('at a phone width (390 px, dark scheme) the story fits: only the attempts table scrolls, in its own box', async () => {
    const page = await signedIn(undefined, { width: 390, colorScheme: 'dark' });
    await search(page, PHONE);
    await story(page);
    await page.getByTestId('person-evidence').locator('summary').click();
    const fit = await page.evaluate(() => {
      const wrap = document.querySelector<HTMLElement>('[data-testid="person"] .table-wrap')!;
      return {
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        panel: document.querySelector<HTMLElement>('[data-testid="person"]')!.getBoundingClientRect().right,
        wrapRight: wrap.getBoundingClientRect().right,
        width: document.documentElement.clientWidth,
      };
    });
    expect(fit.page).toBeLessThanOrEqual(0);
    expect(fit.panel).toBeLessThanOrEqual(fit.width);
    expect(fit.wrapRight).toBeLessThanOrEqual(fit.width);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.getByTestId('person').screenshot({ path: SCREENSHOT });
    await page.context().close();
  });

  it('an operator schedules a callback from the panel: typed in the browser zone, stored as the instant, shown as why not now', async () => {
    const page = await signedIn();
    await search(page, PHONE);
    const running = await story(page);
    // A day after the retry the contact waits for, on the minute, as the browser's New York clock shows it.
    const at = new Date(Date.parse(seeded.until) + 86_400_000);
    at.setUTCSeconds(0, 0);
    const local = new Intl.DateTimeFormat('sv-SE', {
      timeZone: BROWSER_ZONE,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    }).format(at).replace(' ', 'T');
    expect(await page.getByLabel('Call back at (your time)').count()).toBe(2);
    await running.getByTestId('person-callback-at').fill(local);
    await running.getByTestId('person-callback-save').click();
    await expect.poll(() => text(page, 'person-result'), { timeout: 15_000 }).toMatch(
      new RegExp(`^Contact ${seeded.running} will be called back at .+ \\(your time\\)\\.$`),
    );
    const stored = await withClient(async (c) =>
      (await c.query('select callback_at from public.contacts where id = $1', [seeded.running])).rows[0].callback_at as Date
    );
    expect(stored.toISOString()).toBe(at.toISOString());
    const again = page.locator(`[data-contact-id="${seeded.running}"]`);
    await expect.poll(async () => await again.getByTestId('person-why').innerText(), { timeout: 15_000 }).toMatch(
      /^Not called now: a callback is scheduled for .+/,
    );
    expect(await again.getByTestId('person-callback-at-shown').innerText()).toContain('(your time)');
    await page.context().close();
  });
});
