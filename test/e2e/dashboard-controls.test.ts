// The dashboard's operator controls, end to end in real headless Chromium against the whole stack
// (Deno functions gateway, local Vercel, the test database): create a campaign (the API's per-field
// refusals shown next to the fields first), import a CSV with bad rows and a duplicate (line and
// column shown), pause / resume / cancel after a confirmation that shows the counts, export the
// contacts (formula cells prefixed), and read the audit trail the session left. The campaign's dates
// are entered in the browser's time zone (New York here: one date in winter time, one in summer
// time), refused end-before-start by the shared schema and by the database, and shown in the list.
// Sign-in with the Supabase Auth session the local stack mints (npm start prints one): accepted;
// refused without a scheduler role (403), expired or wrongly signed (401), each said on the form.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { LOCAL_OPERATOR } from '../../scripts/stack/stack.ts';
import { mintSupabaseJwt } from '../../scripts/stack/operator-jwt.ts';
import { request } from '../support/net.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard-controls.png');

const dash = useDashboardStack();

/** A fresh page (its own context: nothing kept from another sign-in) in New York's time zone. */
const freshPage = () => dash.freshPage({ acceptDownloads: true, timezoneId: 'America/New_York' });

async function signedIn(token?: string): Promise<Page> {
  const page = await freshPage();
  await dash.signIn(page, token);
  await page.getByTestId('campaign-form').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

const text = async (page: Page, testid: string) => (await page.getByTestId(testid).textContent()) ?? '';

/** Press an action, check the confirmation's counts, confirm, and wait for the new status. */
async function act(
  page: Page,
  action: 'pause' | 'resume' | 'cancel',
  after: RegExp,
  beforeConfirming: () => Promise<void> = async () => {},
): Promise<string> {
  await page.getByTestId(`action-${action}`).click();
  await page.getByTestId('action-confirm').waitFor({ state: 'visible', timeout: 15_000 });
  const confirmation = await text(page, 'action-confirm-text');
  expect(confirmation).toMatch(/\d+ queued calls? released, \d+ active calls? finishing, \d+ of \d+ pending contacts ended/);
  await beforeConfirming();
  await page.getByTestId('action-confirm-yes').click();
  await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(after);
  return confirmation;
}

describe('dashboard controls', () => {
  it('creates, imports, pauses, resumes, cancels, exports and lists the audit trail', async () => {
    const page = await signedIn();

    // Refused by the schema: the errors sit next to their fields.
    await page.getByTestId('f-name').fill('Spring reminders');
    await page.getByTestId('f-max_concurrent_calls').fill('0');
    await page.getByTestId('f-caller_id').fill('12345');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'err-max_concurrent_calls'), { timeout: 15_000 }).toMatch(/at least 1/);
    expect(await text(page, 'err-caller_id')).toMatch(/E\.164/);
    expect(await text(page, 'err-name')).toBe('');

    // Refused by the database (an unknown time zone passes the schema's shape): named field too.
    await page.getByTestId('f-max_concurrent_calls').fill('3');
    await page.getByTestId('f-caller_id').fill('+15551230000');
    await page.getByTestId('f-time_zone').fill('Mars/Olympus_Mons');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'err-time_zone'), { timeout: 15_000 }).not.toBe('');
    expect(await text(page, 'err-max_concurrent_calls')).toBe('');

    // Created.
    await page.getByTestId('f-time_zone').fill('Europe/London');
    await page.getByTestId('f-action_kind').selectOption('twiml');
    await page.getByTestId('f-action_value').fill('<Response><Say>Hello</Say></Response>');
    await page.getByTestId('f-window_start').fill('09:00');
    await page.getByTestId('f-window_end').fill('18:00');
    for (const day of ['1', '2', '3', '4', '5']) await page.locator(`#campaign-form input[name=day][value="${day}"]`).check();
    await page.getByTestId('f-max_attempts').fill('3');
    // Retry rules by outcome: busy sooner, a failed call not at all.
    await page.getByTestId('f-retry_busy_delay').fill('5 minutes');
    await page.getByTestId('f-retry_no_answer_delay').fill('3 hours');
    await page.getByTestId('f-retry_failed').uncheck();
    // March of next year: always ahead (the list says 'starts ... until ...' only for dates to come).
    const y = new Date().getUTCFullYear() + 1;
    // Dates the wrong way round: the shared schema refuses the end, next to its field.
    await page.getByTestId('f-starts_at').fill(`${y}-03-31T18:00`);
    await page.getByTestId('f-ends_at').fill(`${y}-03-01T09:00`);
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'err-ends_at'), { timeout: 15_000 }).toMatch(/after starts_at/);
    expect(await text(page, 'err-starts_at')).toBe('');
    // New York time: 1 March is winter time (UTC-5), 31 March summer time (UTC-4) in every year.
    await page.getByTestId('f-starts_at').fill(`${y}-03-01T09:00`);
    await page.getByTestId('f-ends_at').fill(`${y}-03-31T18:00`);
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/Spring reminders \(#\d+\) created/);
    const id = /#(\d+)/.exec(await text(page, 'controls-result'))![1]!;
    // The list is reloaded after the result line shows: the new campaign becomes the selected one then.
    await expect.poll(() => page.getByTestId('campaign-select').inputValue(), { timeout: 15_000 }).toBe(id);
    const dates = async () =>
      (await withClient((c) =>
        c.query<{ starts_at: Date; ends_at: Date }>('select starts_at, ends_at from campaigns where id = $1', [id])
      ))
        .rows[0]!;
    const rules = (await withClient((c) =>
      c.query(
        'select retry_busy, retry_busy_delay::text, retry_no_answer_delay::text, retry_failed from campaigns where id = $1',
        [id],
      )
    )).rows[0];
    expect(rules).toEqual({
      retry_busy: true,
      retry_busy_delay: '00:05:00',
      retry_no_answer_delay: '03:00:00',
      retry_failed: false,
    });
    expect((await dates()).starts_at.toISOString()).toBe(`${y}-03-01T14:00:00.000Z`);
    expect((await dates()).ends_at.toISOString()).toBe(`${y}-03-31T22:00:00.000Z`);
    // The campaign list shows them (in the browser's time zone).
    const listed = page.getByTestId('campaign-row').filter({ hasText: 'Spring reminders' }).getByTestId('campaign-dates');
    await expect.poll(async () => (await listed.count()) > 0 ? await listed.textContent() : '', { timeout: 15_000 }).toMatch(
      new RegExp(String.raw`^starts Mar 1, ${y}, 9:00\sAM until Mar 31, ${y}, 6:00\sPM$`),
    );

    // Edited: an end before the stored start (only the end is sent, so the schema cannot see the
    // start: the database refuses it, named field); then the cap goes up.
    await page.getByTestId('campaign-edit').click();
    expect(await page.getByTestId('f-max_concurrent_calls').inputValue()).toBe('3');
    expect(await page.getByTestId('f-retry_failed').isChecked()).toBe(false);
    expect(await page.getByTestId('f-retry_busy').isChecked()).toBe(true);
    expect(await page.getByTestId('f-starts_at').inputValue()).toBe(`${y}-03-01T09:00`);
    expect(await page.getByTestId('f-ends_at').inputValue()).toBe(`${y}-03-31T18:00`);
    await page.getByTestId('f-ends_at').fill(`${y}-02-01T09:00`);
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'err-ends_at'), { timeout: 15_000 }).toMatch(/campaigns_ends_after_starts/);
    expect((await dates()).ends_at.toISOString()).toBe(`${y}-03-31T22:00:00.000Z`);
    await page.getByTestId('f-ends_at').fill(`${y}-03-31T18:00`);
    await page.getByTestId('f-max_concurrent_calls').fill('5');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/saved/);
    const cap = await withClient((c) =>
      c.query<{ cap: number }>('select max_concurrent_calls as cap from campaigns where id = $1', [id])
    );
    expect(cap.rows[0]!.cap).toBe(5);

    // A CSV with a bad number, a duplicate and a formula in a name.
    const csv = [
      'phone,name,note',
      '+14155550101,Ada,first',
      '(415) 555-0102,Grace,national number',
      'not-a-number,Bad,row',
      '+14155550101,Ada again,duplicate',
      '+14155550103,=HYPERLINK(1),formula',
      '+14155550104,Alan,',
    ].join('\n') + '\n';
    const file = path.join(os.tmpdir(), `dashboard-controls-${process.pid}.csv`);
    await writeFile(file, csv);
    await page.getByTestId('csv-file').setInputFiles(file);
    await page.getByTestId('csv-region').fill('US');
    await page.getByTestId('csv-upload').click();
    await expect.poll(() => text(page, 'import-report'), { timeout: 30_000 }).toMatch(/ rows, /);
    process.stdout.write(
      `import: ${await text(page, 'import-report')}\n${(await page.getByTestId('import-error').allTextContents()).join('\n')}\n`,
    );
    expect(await text(page, 'import-report')).toMatch(
      /6 rows, 4 imported, 1 duplicate \(lines 5\), 1 with errors/,
    );
    const errors = await page.getByTestId('import-error').allTextContents();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^line 4, phone/);
    await rm(file, { force: true });

    // Pause, resume, cancel: each confirmation first shows the counts.
    // The screenshot (for humans and CI artifacts) shows the pause confirmation with its counts.
    const pause = await act(page, 'pause', /is paused/, async () => {
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await rm(SCREENSHOT, { force: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    });
    expect(pause).toMatch(/→ paused/);
    expect(pause).toMatch(/0 of 4 pending contacts ended/);
    await act(page, 'resume', /is (queued|running)/);
    const cancel = await act(page, 'cancel', /is cancelled.*4 pending contacts ended/);
    expect(cancel).toMatch(/4 of 4 pending contacts ended/);
    // Nothing more is allowed once cancelled.
    await page.getByTestId('action-resume').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/Cannot resume/);

    // Export: the browser downloads the CSV; the formula cell is prefixed.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15_000 }),
      page.getByTestId('campaign-export').click(),
    ]);
    expect(download.suggestedFilename()).toBe(`campaign-${id}-contacts.csv`);
    const exported = await readFile((await download.path())!, 'utf8');
    expect(exported.split('\n')[0]).toMatch(/phone/);
    expect(exported).toContain('+14155550102');
    expect(exported).toContain(`'=HYPERLINK(1)`);
    expect(exported).not.toMatch(/(^|,)"?=HYPERLINK/m);
    expect(exported).toContain(`'+14155550101`);

    // The audit trail lists the session, newest first.
    await page.getByTestId('audit-refresh').click();
    await expect.poll(() => page.getByTestId('audit-row').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(6);
    const audit = await page.getByTestId('audit-row').evaluateAll((rows) =>
      rows.map((r) => [...r.children].map((td) => td.getAttribute('title') ?? td.textContent).join(' | '))
    );
    process.stdout.write(`audit rows left by this test (dashboard, newest first):\n${audit.join('\n')}\n`);
    const actions = await page.locator('[data-testid=audit-row] td:nth-child(3)').allTextContents();
    expect(actions.slice(0, 6)).toEqual([
      'campaign.cancel',
      'campaign.resume',
      'campaign.pause',
      'contacts.import',
      'campaign.update',
      'campaign.create',
    ]);
    expect(await page.locator('[data-testid=audit-row] td:nth-child(2)').first().textContent()).toBe('admin_token');

    const png = await readFile(SCREENSHOT);
    expect(png.length).toBeGreaterThan(10_000);
    await page.context().close();
  });

  it('sets every campaign setting: purpose, consent, machine answers, machine detection, ring timeout', async () => {
    const page = await signedIn();
    await page.getByTestId('f-name').fill('Every setting');
    await page.getByTestId('f-caller_id').fill('+15551230000');
    await page.getByTestId('f-action_kind').selectOption('twiml');
    await page.getByTestId('f-action_value').fill('<Response><Say>Hi</Say></Response>');
    await page.getByTestId('f-machine_detection').selectOption('DetectMessageEnd');
    await page.getByTestId('f-ring_timeout').fill('700');
    await page.getByTestId('f-machine_answer_policy').selectOption('done');
    await page.getByTestId('f-purpose').selectOption('informational');
    await page.getByTestId('f-requires_consent').check();
    await page.getByTestId('campaign-save').click();
    // Out of range: refused by the schema, shown at the call action's field.
    await expect.poll(() => text(page, 'err-provider_settings'), { timeout: 15_000 }).toMatch(/timeout .* 1 to 600/);
    await page.getByTestId('f-ring_timeout').fill('25');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/Every setting \(#\d+\) created/);
    const id = /#(\d+)/.exec(await text(page, 'controls-result'))![1]!;
    const row = async () =>
      (await withClient((c) =>
        c.query(
          `select provider_settings, machine_answer_policy, purpose, requires_consent from campaigns where id = $1`,
          [id],
        )
      )).rows[0];
    expect(await row()).toEqual({
      provider_settings: { twiml: '<Response><Say>Hi</Say></Response>', machine_detection: 'DetectMessageEnd', timeout: 25 },
      machine_answer_policy: 'done',
      purpose: 'informational',
      requires_consent: true,
    });

    // Edited: the form shows what is stored; machine answers back to retry, the purpose cleared,
    // detection off; the call action stays.
    await page.getByTestId('campaign-edit').click();
    expect(await page.getByTestId('f-machine_answer_policy').inputValue()).toBe('done');
    expect(await page.getByTestId('f-purpose').inputValue()).toBe('informational');
    expect(await page.getByTestId('f-ring_timeout').inputValue()).toBe('25');
    expect(await page.getByTestId('f-requires_consent').isChecked()).toBe(true);
    await page.getByTestId('f-machine_answer_policy').selectOption('retry');
    await page.getByTestId('f-purpose').selectOption('');
    await page.getByTestId('f-machine_detection').selectOption('');
    await page.getByTestId('f-requires_consent').uncheck();
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/saved/);
    expect(await row()).toEqual({
      provider_settings: { twiml: '<Response><Say>Hi</Say></Response>', timeout: 25 },
      machine_answer_policy: 'retry',
      purpose: null,
      requires_consent: false,
    });
    await page.context().close();
  });

  it("signs in with the local stack's Supabase Auth session; refuses one without a scheduler role, expired or forged", async () => {
    const admin = (token: string) =>
      request(`${dash.stack.functionsUrl}/scheduler-admin/status`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(15_000),
      });
    const session = dash.stack.operatorSession();
    expect((await admin(session)).status).toBe(200);
    const noRole = dash.stack.operatorSession({ appRole: null });
    expect((await admin(noRole)).status).toBe(403);
    const expired = dash.stack.operatorSession({ ttlSeconds: -60 });
    expect((await admin(expired)).status).toBe(401);
    const forged = mintSupabaseJwt('not-the-stack-secret-not-the-stack-secret', { sub: LOCAL_OPERATOR.sub });
    expect((await admin(forged)).status).toBe(401);

    // In the dashboard: each refusal is said on the sign-in form.
    for (
      const [token, said] of [
        [noRole, /does not hold a scheduler role/],
        [expired, /session has expired/],
        [forged, /refused/],
      ] as const
    ) {
      const page = await freshPage();
      await page.getByTestId('token-input').fill(token);
      await page.getByTestId('login-submit').click();
      await expect.poll(() => text(page, 'login-error'), { timeout: 15_000 }).toMatch(said);
      expect(await page.getByTestId('campaign-form').isVisible()).toBe(false);
      await page.context().close();
    }

    // The minted session signs in; what the operator does is audited under the user.
    const page = await signedIn(session);
    await page.getByTestId('f-name').fill('Made with a session');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/Made with a session \(#\d+\) created/);
    await page.getByTestId('audit-refresh').click();
    await expect
      .poll(() => page.locator('[data-testid=audit-row] td:nth-child(2)').first().textContent(), { timeout: 15_000 })
      .toBe(`user:${LOCAL_OPERATOR.sub}:${LOCAL_OPERATOR.email}`);
    await page.context().close();
  });
});
