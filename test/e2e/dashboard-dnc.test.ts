// The dashboard's "Do-not-call list" panel, end to end in real headless Chromium against the whole
// stack (Deno functions gateway, local Vercel, the test database): a number that is not E.164 is
// refused on the panel, a number is added (its pending contact marked), found by search, removed
// with the reason typed in the prompt (the contact stays do_not_call); the audit trail has both.

import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard-dnc.png');

const dash = useDashboardStack();

async function signedIn(): Promise<Page> {
  // The removal's prompt asks for the reason.
  const page = await dash.freshPage({
    onDialog: (d) => void d.accept(d.type() === 'prompt' ? 'consent given again in writing' : undefined),
  });
  await dash.signIn(page);
  await page.getByTestId('dnc').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

const text = async (page: Page, testid: string) => (await page.getByTestId(testid).textContent()) ?? '';
const contactStatus = (id: string) =>
  withClient((c) => c.query<{ status: string }>('select status from public.contacts where id = $1', [id])).then((r) =>
    r.rows[0]!.status
  );

describe('dashboard do-not-call list', () => {
  it('adds a number, finds it, removes it with a reason; a bad number is refused; all audited', async () => {
    const campaign = await withClient((c) => createCampaign(c, { status: 'PAUSED' }));
    const [contact] = await withClient((c) => addContacts(c, campaign, ['+15550400001']));
    await withClient((c) => c.query(`insert into public.do_not_call_numbers (phone, reason) values ('+15550400999', 'other')`));
    const page = await signedIn();
    await expect.poll(() => page.getByTestId('dnc-row-+15550400999').count(), { timeout: 15_000 }).toBe(1);

    await page.getByTestId('dnc-phone').fill('555-0400');
    await page.getByTestId('dnc-reason').fill('asked');
    await page.getByTestId('dnc-add').click();
    await expect.poll(() => text(page, 'dnc-result'), { timeout: 15_000 }).toMatch(/must be E\.164/);

    await page.getByTestId('dnc-phone').fill('+15550400001');
    await page.getByTestId('dnc-reason').fill('asked by letter');
    await page.getByTestId('dnc-add').click();
    await expect.poll(() => text(page, 'dnc-result'), { timeout: 15_000 }).toBe(
      '+15550400001 added; 1 contact(s) marked do_not_call.',
    );
    expect(await contactStatus(contact!)).toBe('do_not_call');

    await page.getByTestId('dnc-query').fill('0400001');
    await page.getByTestId('dnc-search').click();
    await expect.poll(() => page.getByTestId('dnc-row-+15550400999').count(), { timeout: 15_000 }).toBe(0);
    const row = page.getByTestId('dnc-row-+15550400001');
    expect((await row.innerText()).replace(/\s+/g, ' ')).toMatch(/^\+15550400001 asked by letter .* admin_token/);

    await page.getByTestId('dnc-remove-+15550400001').click();
    await expect.poll(() => text(page, 'dnc-result'), { timeout: 15_000 }).toMatch(
      /^\+15550400001 removed; 1 contact\(s\) marked earlier stay do_not_call/,
    );
    await expect.poll(() => page.getByTestId('no-dnc').isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await contactStatus(contact!)).toBe('do_not_call');

    await page.getByTestId('dnc').screenshot({ path: SCREENSHOT });
    const audit = await withClient((c) =>
      c.query<{ action: string; subject: string; reason: string }>(
        `select action, subject, after ->> 'reason' as reason from operator_audit_log order by id`,
      )
    );
    expect(audit.rows).toEqual([
      { action: 'do_not_call.add', subject: 'do_not_call +15550400001', reason: 'asked by letter' },
      { action: 'do_not_call.remove', subject: 'do_not_call +15550400001', reason: 'consent given again in writing' },
    ]);
  });
});
