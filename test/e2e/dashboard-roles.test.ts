// The dashboard follows the signed-in credential's role, end to end in real headless Chromium against
// the whole stack (Deno functions gateway, local Vercel, the test database):
//   * a viewer sees who it is and its role in the header, every panel read-only (the write controls
//     disabled, saying which role they need), no token management; a refused write (a control
//     enabled behind the page's back, as a page older than the role would have it) says "not allowed
//     for your role (needs operator)" in the panel and does not sign out;
//   * an operator runs campaigns but sees no token management and provider accounts read-only; an
//     admin-only request refused the same way, still signed in;
//   * an admin creates an operator token with an expiry (the role picker, the table's role, creator
//     and expiry columns), revokes it by its row's button (by id), and revokes everything a creator
//     made after a confirmation.
// The tokens are minted through the API with the admin token, as an admin would.

import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ALL_DAY, seedCampaign } from '../../scripts/stack/demo-seed.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const dash = useDashboardStack({
  seed: async (c) => {
    await seedCampaign(c, {
      name: 'Roles check',
      max_concurrent_calls: 2,
      priority: 1,
      time_zone: 'UTC',
      ...ALL_DAY,
      contacts: [{ phone: '+447700900850', name: 'Contact 0' }],
    });
  },
});

interface Minted {
  id: string;
  name: string;
  role: string;
  token: string;
}

/** A named token made through the API by `by` (default: the admin token). */
async function mintToken(body: Record<string, unknown>, by = dash.stack.secrets.adminToken): Promise<Minted> {
  const res = await fetch(`${dash.stack.functionsUrl}/scheduler-admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${by}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Minted;
}

async function signedInWith(token?: string, opts: { onDialog?: (d: import('playwright-core').Dialog) => void } = {}) {
  const page = await dash.freshPage(opts.onDialog ? { onDialog: opts.onDialog, clock: true } : { clock: true });
  await dash.signIn(page, token);
  await page.getByTestId('whoami').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).textContent()) ?? '').trim();
const isDisabled = (page: Page, testid: string) => page.getByTestId(testid).isDisabled();

/**
 * Brings the page's next status refresh forward and waits for it: the refresh note ("Updated
 * <time>") changes when one is shown, and so it does when a refused credential signs the page out.
 */
async function nextStatusRefresh(page: Page): Promise<void> {
  const before = await text(page, 'refresh-note');
  await dash.nextStatusRefresh(page);
  await expect.poll(() => text(page, 'refresh-note'), { timeout: 15_000 }).not.toBe(before);
}

/** Enables a control the role holds back, as a page older than the role would have it. */
async function forceEnable(page: Page, testid: string) {
  await page.getByTestId(testid).evaluate((el) => {
    (el as HTMLButtonElement).disabled = false;
  });
}

describe('dashboard roles', () => {
  it('a viewer: role in the header, read-only panels, and a refused write says so without signing out', async () => {
    const viewer = await mintToken({ name: 'vera', role: 'viewer', expires_in_days: 5 });
    const page = await signedInWith(viewer.token);

    expect(await text(page, 'whoami-actor')).toBe(`operator:${viewer.id}:vera`);
    expect(await text(page, 'whoami-role')).toBe('viewer');
    await expect.poll(() => text(page, 'role-note'), { timeout: 15_000 }).toMatch(/signed in as a viewer.*read-only/i);

    // The reads work: the campaign is listed, the do-not-call list and accounts load.
    await expect.poll(() => page.getByTestId('campaign-row').count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => page.getByTestId('account-default').count(), { timeout: 15_000 }).toBe(1);

    // Every write is disabled, saying which role it needs.
    for (
      const id of [
        'trigger-button',
        'campaign-new',
        'action-pause',
        'action-resume',
        'action-cancel',
        'campaign-save',
        'csv-upload',
        'csv-file',
        'dnc-add',
        'dnc-phone',
        'dnc-upload',
      ]
    ) {
      expect(await isDisabled(page, id), id).toBe(true);
      expect(await page.getByTestId(id).getAttribute('title'), id).toBe(
        'Needs the operator role; you are signed in as a viewer.',
      );
    }
    for (const id of ['account-save', 'account-id', 'account-edit-default']) {
      expect(await isDisabled(page, id), id).toBe(true);
      expect(await page.getByTestId(id).getAttribute('title'), id).toMatch(/^Needs the admin role/);
    }
    // Reading stays possible: the campaign select, exports, searches, refreshes.
    for (const id of ['campaign-select', 'campaign-export', 'dnc-search', 'dnc-export', 'wait-refresh', 'audit-refresh']) {
      expect(await isDisabled(page, id), id).toBe(false);
    }
    // Token management is not shown at all (the API lists tokens to admins only).
    expect(await page.getByTestId('tokens').isHidden()).toBe(true);

    // A write the page lets through anyway: refused by the API, said in the panel, still signed in.
    await forceEnable(page, 'trigger-button');
    await page.getByTestId('trigger-button').click();
    await expect.poll(() => text(page, 'trigger-result'), { timeout: 15_000 }).toBe(
      'The tick was not run: not allowed for your role (needs operator).',
    );
    // The button is held back again, and the next status refresh keeps the viewer signed in.
    await expect.poll(() => isDisabled(page, 'trigger-button'), { timeout: 15_000 }).toBe(true);
    await nextStatusRefresh(page);
    expect(await page.locator('#dashboard').isVisible()).toBe(true);
    expect(await page.getByTestId('login-form').isVisible()).toBe(false);
    const runs = await withClient((c) => c.query("select count(*)::int as n from scheduler_runs where trigger = 'manual'"));
    expect(runs.rows[0].n).toBe(0);
    await page.context().close();
  });

  it('an operator: no token management, provider accounts read-only, an admin-only request refused without sign-out', async () => {
    const op = await mintToken({ name: 'oscar', role: 'operator' });
    const page = await signedInWith(op.token);
    expect(await text(page, 'whoami-role')).toBe('operator');
    await expect.poll(() => text(page, 'role-note'), { timeout: 15_000 }).toMatch(/operator tokens are not shown/);
    expect(await page.getByTestId('tokens').isHidden()).toBe(true);

    // An operator's controls are there.
    for (const id of ['trigger-button', 'campaign-new', 'dnc-add', 'csv-upload']) {
      expect(await isDisabled(page, id), id).toBe(false);
    }
    await expect.poll(() => page.getByTestId('account-default').count(), { timeout: 15_000 }).toBe(1);
    expect(await isDisabled(page, 'account-save')).toBe(true);

    // The account form let through anyway: 403 from the API, said on the card, still signed in.
    for (const id of ['account-id', 'account-cps', 'account-save']) await forceEnable(page, id);
    await page.getByTestId('account-id').fill('sub-op');
    await page.getByTestId('account-cps').fill('2');
    await page.getByTestId('account-save').click();
    await expect.poll(() => text(page, 'account-result'), { timeout: 15_000 }).toBe(
      'Not saved: not allowed for your role (needs admin).',
    );
    await nextStatusRefresh(page);
    expect(await page.locator('#dashboard').isVisible()).toBe(true);
    const accounts = await withClient((c) => c.query("select count(*)::int as n from provider_accounts where id = 'sub-op'"));
    expect(accounts.rows[0].n).toBe(0);
    await page.context().close();
  });

  it('an admin: creates an operator token with an expiry, sees its role, creator and expiry, revokes it by id and revokes by creator', async () => {
    const page = await signedInWith(undefined, { onDialog: (d) => void d.accept() });
    expect(await text(page, 'whoami-actor')).toBe('admin_token');
    expect(await text(page, 'whoami-role')).toBe('admin');
    expect(await page.getByTestId('role-note').isHidden()).toBe(true);
    await page.getByTestId('token-form').waitFor({ state: 'visible', timeout: 15_000 });

    // The role picker: viewer chosen, every role offered to an admin; each control has its label.
    const picker = page.getByTestId('token-role');
    expect(await picker.inputValue()).toBe('viewer');
    expect(await picker.locator('option').allTextContents()).toEqual(['viewer', 'operator', 'admin']);
    for (const id of ['token-name', 'token-role', 'token-days']) {
      expect(await page.getByTestId(id).evaluate((el) => (el as HTMLInputElement).labels?.length ?? 0), id).toBe(1);
    }

    await page.getByTestId('token-name').fill('olga');
    await picker.selectOption('operator');
    await page.getByTestId('token-days').fill('30');
    await page.getByTestId('token-create').click();
    await expect.poll(() => text(page, 'token-result'), { timeout: 15_000 }).toMatch(
      /^Token for olga created \(id \d+, operator, expires .+\)\. Copy it now/,
    );
    const row = await withClient((c) =>
      c.query<{ id: string; role: string; created_by: string; days: number }>(
        `select id::text, role, created_by, round(extract(epoch from expires_at - created_at) / 86400)::int as days
           from operator_tokens where name = 'olga'`,
      )
    );
    expect(row.rows[0]).toMatchObject({ role: 'operator', created_by: 'admin_token', days: 30 });
    const id = row.rows[0]!.id;
    const cells = () => page.getByTestId('token-olga').locator('td').allTextContents();
    await expect.poll(cells, { timeout: 15_000 }).toEqual([
      id,
      'olga',
      'operator',
      'valid',
      'admin_token',
      expect.any(String),
      expect.stringMatching(/\w/),
      '–',
      'RevokeRevoke all by creator',
    ]);
    expect(await picker.inputValue()).toBe('viewer'); // the form is reset

    // Revoked by its row's button: by id.
    await page.getByTestId('revoke-olga').click();
    await expect.poll(() => text(page, 'token-result'), { timeout: 15_000 }).toBe(`Token ${id} of olga revoked.`);
    await expect.poll(async () => (await cells())[3], { timeout: 15_000 }).toBe('revoked');
    expect(await page.getByTestId('revoke-olga').count()).toBe(0);
    const audit = await withClient((c) =>
      c.query<{ subject: string }>(`select subject from operator_audit_log where action = 'token.revoke' order by id`)
    );
    expect(audit.rows.map((r) => r.subject)).toEqual(['olga']);

    // Everything a creator made: an admin's named token made two viewers; revoked from one of their rows.
    const maker = await mintToken({ name: 'maker', role: 'admin' });
    await mintToken({ name: 'made-1' }, maker.token);
    await mintToken({ name: 'made-2' }, maker.token);
    await page.locator('#tokens-refresh').click();
    await expect.poll(() => page.getByTestId('token-made-2').count(), { timeout: 15_000 }).toBe(1);
    await page.getByTestId('revoke-creator-made-1').click();
    await expect.poll(() => text(page, 'token-result'), { timeout: 15_000 }).toMatch(
      new RegExp(`^2 tokens made by operator:${maker.id}:maker revoked: \\d+ \\(made-1\\), \\d+ \\(made-2\\)\\.$`),
    );
    const states = await withClient((c) =>
      c.query<{ name: string; revoked: boolean }>(
        `select name, revoked_at is not null as revoked from operator_tokens where name in ('maker', 'made-1', 'made-2') order by name`,
      )
    );
    expect(states.rows).toEqual([
      { name: 'made-1', revoked: true },
      { name: 'made-2', revoked: true },
      { name: 'maker', revoked: false },
    ]);
    await page.context().close();
  });

  it("the token card's role picker offers only the roles up to the signed-in one", async () => {
    // No credential makes a token above its own role; the picker offers no more than that (the card
    // itself is hidden below admin: the page is checked as it is built).
    const viewer = await mintToken({ name: 'vic', role: 'viewer' });
    const page = await signedInWith(viewer.token);
    expect(await page.getByTestId('token-role').locator('option').allTextContents()).toEqual(['viewer']);
    await page.context().close();
  });
});
