// The admin dashboard, end to end: the whole stack (simulator, Deno functions gateway, local Vercel)
// against the test database, driven by real headless Chromium. Signs in, sees the last run (none
// yet), watches the countdown move, runs a tick with the button, sees the run appear, gets the
// rate-limit message on a second press, and is refused with a wrong token.

import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { ALL_DAY, seedCampaign } from '../../scripts/stack/demo-seed.ts';
import { VERSION } from '../../supabase/functions/_shared/version.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard.png');

const dash = useDashboardStack({
  seed: async (c) => {
    await seedCampaign(c, {
      name: 'E2E reminders',
      max_concurrent_calls: 3,
      priority: 1,
      time_zone: 'UTC',
      ...ALL_DAY,
      contacts: Array.from({ length: 6 }, (_, i) => ({ phone: `+44770090080${i}`, name: `Contact ${i}` })),
    });
  },
});

/** A fresh page with the dashboard loaded, signed in with `token`. */
async function signedInWith(token: string): Promise<Page> {
  const page = await dash.freshPage({ clock: true });
  await dash.signIn(page, token);
  return page;
}

describe('admin dashboard', () => {
  it('serves the page without any secret in it', async () => {
    const html = await (await fetch(dash.stack.dashboardUrl)).text();
    expect(html).toContain('data-testid="trigger-button"');
    for (const secret of Object.values(dash.stack.secrets)) expect(html).not.toContain(secret);
    const config = (await (await fetch(`${dash.stack.vercelUrl}/api/dashboard-config`)).json()) as { functionsUrl: string };
    expect(config.functionsUrl).toBe(dash.stack.functionsUrl);
  });

  it('refuses a wrong admin token', async () => {
    const page = await signedInWith('not-the-admin-token');
    await expect.poll(() => page.getByTestId('login-error').textContent(), { timeout: 15_000 }).toMatch(/refused/i);
    expect(await page.getByTestId('trigger-button').isVisible()).toBe(false);
    await page.context().close();
  });

  it('shows the status, counts down, runs a tick on demand and rate-limits a second one', async () => {
    const page = await signedInWith(dash.stack.secrets.adminToken);

    // Signed in: no run yet.
    await page.getByTestId('trigger-button').waitFor({ state: 'visible', timeout: 15_000 });
    await expect.poll(() => page.getByTestId('last-run-time').textContent(), { timeout: 15_000 }).toMatch(/no runs yet/i);
    expect(await page.getByTestId('no-runs').isVisible()).toBe(true);
    expect(await page.getByTestId('campaign-row').count()).toBe(1);
    // The token lives in sessionStorage only, never in the URL.
    expect(page.url()).not.toContain(dash.stack.secrets.adminToken);

    // The countdown ticks every second.
    const countdown = page.getByTestId('countdown');
    await expect.poll(() => countdown.textContent(), { timeout: 10_000 }).toMatch(/^\d\d:\d\d$|due now/);
    const first = await countdown.textContent();
    await expect.poll(() => countdown.textContent(), { timeout: 5_000, interval: 250 }).not.toBe(first);

    // Run a tick now.
    await page.getByTestId('trigger-button').click();
    const result = page.getByTestId('trigger-result');
    await expect.poll(() => result.textContent(), { timeout: 30_000 }).toMatch(/^Run #\d+ (ok|partial): launched \d+/);
    const runId = /#(\d+)/.exec((await result.textContent()) ?? '')?.[1];
    expect(runId).toBeDefined();
    await expect.poll(() => page.getByTestId('last-run-id').textContent(), { timeout: 15_000 }).toBe(`#${runId}`);
    await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('no-runs').isVisible()).toBe(false);
    await expect.poll(() => page.getByTestId('launched-last-run').textContent(), { timeout: 15_000 }).toMatch(/^[1-9]\d*$/);

    // A second press right away is refused by the database's rate limit.
    await expect.poll(() => page.getByTestId('trigger-button').isEnabled(), { timeout: 15_000 }).toBe(true);
    await page.getByTestId('trigger-button').click();
    await expect.poll(() => result.textContent(), { timeout: 15_000 }).toMatch(/rate limited.*try again in \d+ s/i);

    // Let the next refresh show the calls, then keep a screenshot for humans and CI artifacts.
    await expect.poll(() => page.getByTestId('active-calls').textContent(), { timeout: 15_000 }).toMatch(/^\d+ \/ \d+$/);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await rm(SCREENSHOT, { force: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = await readFile(SCREENSHOT);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
    await page.context().close();
  });

  it('shows the version in the footer, and a banner while the whole scheduler is paused', async () => {
    const page = await signedInWith(dash.stack.secrets.adminToken);
    await expect.poll(() => page.getByTestId('scheduler-version').textContent(), { timeout: 15_000 }).toBe(
      `Scheduler ${VERSION}`,
    );
    expect(await page.getByTestId('scheduler-paused').isVisible()).toBe(false);
    await withClient((c) => c.query(`select * from public.set_scheduler_paused(true, 'upgrade in progress')`));
    try {
      await dash.nextStatusRefresh(page);
      await expect.poll(() => page.getByTestId('scheduler-paused').textContent(), { timeout: 15_000 }).toMatch(
        /^The scheduler is paused since .+ \(upgrade in progress\): no call is reserved or dialled/,
      );
    } finally {
      await withClient((c) => c.query(`select * from public.set_scheduler_paused(false)`));
    }
    await dash.nextStatusRefresh(page);
    await expect.poll(() => page.getByTestId('scheduler-paused').isVisible(), { timeout: 15_000 }).toBe(false);
    await page.context().close();
  });

  it('gives an operator a named token (shown once), which signs in; revoking it signs that operator out', async () => {
    const admin = await dash.freshPage({ onDialog: (d) => void d.accept() });
    await dash.signIn(admin);
    await admin.getByTestId('token-form').waitFor({ state: 'visible', timeout: 15_000 });
    await admin.getByTestId('token-name').fill('dana');
    await admin.getByTestId('token-days').fill('7');
    await admin.getByTestId('token-create').click();
    await expect.poll(() => admin.getByTestId('token-result').textContent(), { timeout: 15_000 }).toMatch(
      /dana created.*not shown again/i,
    );
    const token = await admin.getByTestId('new-token').inputValue();
    expect(token).toMatch(/^op_[A-Za-z0-9_-]{43}$/);
    await expect.poll(() => admin.getByTestId('token-dana').textContent(), { timeout: 15_000 }).toMatch(/dana\s*viewer\s*valid/);

    // Dana signs in with her own token, in her own browser.
    const dana = await signedInWith(token);
    await dana.getByTestId('trigger-button').waitFor({ state: 'visible', timeout: 15_000 });

    // Revoked from the admin's dashboard: Dana's next refresh signs her out.
    await admin.getByTestId('revoke-dana').click();
    await expect.poll(() => admin.getByTestId('token-result').textContent(), { timeout: 15_000 }).toMatch(/dana revoked/i);
    await expect.poll(() => admin.getByTestId('token-dana').textContent(), { timeout: 15_000 }).toMatch(/revoked/);
    await dash.nextStatusRefresh(dana);
    await expect.poll(() => dana.getByTestId('login-error').textContent(), { timeout: 15_000 }).toMatch(/refused/i);

    // Both actions are in the audit trail, under the admin token.
    const audit = await withClient((c) =>
      c.query<{ a: string }>(`select actor || ' ' || action || ' ' || subject as a from public.operator_audit_log order by id`)
    );
    expect(audit.rows.map((r) => r.a)).toEqual(
      expect.arrayContaining(['admin_token token.create dana', 'admin_token token.revoke dana']),
    );
    await admin.context().close();
    await dana.context().close();
  });

  it('signs out when the token stops working', async () => {
    const page = await dash.freshPage();
    await page.evaluate(() => sessionStorage.setItem('campaign-scheduler.admin-token', 'a-revoked-admin-token'));
    await page.reload();
    await expect.poll(() => page.getByTestId('login-error').textContent(), { timeout: 15_000 }).toMatch(/refused/i);
    await page.context().close();
  });
});
