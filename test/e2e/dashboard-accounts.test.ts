// The dashboard's "Provider accounts" card, end to end in real headless Chromium against the whole
// stack (Deno functions gateway, local Vercel, the test database): create an account (a bad rate
// refused, said on the card), change its cap, give a new campaign that account from the campaign
// form's select, see the account named in the campaign list and the campaign counted on the
// account, its breaker state when it opens, and delete an unused account; the audit trail has it all.

import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard-accounts.png');

const dash = useDashboardStack();

async function signedIn(): Promise<Page> {
  const page = await dash.freshPage({ onDialog: (d) => void d.accept(), clock: true });
  await dash.signIn(page);
  await page.getByTestId('accounts').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

const text = async (page: Page, testid: string) => (await page.getByTestId(testid).textContent()) ?? '';
const rowText = async (page: Page, id: string) => {
  const row = page.getByTestId(`account-${id}`);
  // innerText: as shown (line breaks between a cell's lines), lower-cased (the badges are styled upper-case)
  return (await row.count()) > 0 ? (await row.innerText()).replace(/\s+/g, ' ').toLowerCase() : '';
};

describe('dashboard provider accounts', () => {
  it('creates an account, gives a campaign that account, lists it with its campaigns and breaker, deletes an unused one', async () => {
    const page = await signedIn();
    await expect.poll(() => rowText(page, 'default'), { timeout: 15_000 }).toMatch(
      /^default twilio 1 \(global\) 0 \/ no cap closed none/,
    );

    // A rate over the table's bound: refused, said on the card, nothing created.
    await page.getByTestId('account-id').fill('sub-eu');
    await page.getByTestId('account-cps').fill('20000');
    await page.getByTestId('account-cap').fill('2');
    await page.getByTestId('account-save').click();
    await expect.poll(() => text(page, 'account-result'), { timeout: 15_000 }).toMatch(/^Not saved: calls_per_second: /);
    expect(await page.getByTestId('account-sub-eu').count()).toBe(0);

    await page.getByTestId('account-cps').fill('5');
    await page.getByTestId('account-sid').fill(`AC${'12'.repeat(16)}`);
    await page.getByTestId('account-save').click();
    await expect.poll(() => text(page, 'account-result'), { timeout: 15_000 }).toMatch(
      /Account sub-eu created: 5 calls\/s, cap 2/,
    );
    await expect.poll(() => rowText(page, 'sub-eu'), { timeout: 15_000 }).toMatch(
      new RegExp(`^sub-eu ac${'12'.repeat(16)} twilio 5 0 / 2 closed none`),
    );
    const sidStored = await withClient((c) => c.query("select account_sid from provider_accounts where id = 'sub-eu'"));
    expect(sidStored.rows[0].account_sid).toBe(`AC${'12'.repeat(16)}`);

    // Its cap changed from the row's Edit button (the form saves an existing id as a change).
    await page.getByTestId('account-edit-sub-eu').click();
    expect(await page.getByTestId('account-id').inputValue()).toBe('sub-eu');
    expect(await page.getByTestId('account-cap').inputValue()).toBe('2');
    expect(await page.getByTestId('account-sid').inputValue()).toBe(`AC${'12'.repeat(16)}`);
    await page.getByTestId('account-cap').fill('4');
    await page.getByTestId('account-save').click();
    await expect.poll(() => rowText(page, 'sub-eu'), { timeout: 15_000 }).toMatch(/ 5 0 \/ 4 closed/);

    // A campaign dialling through it, chosen in the campaign form.
    await page.getByTestId('campaign-new').click();
    await page.getByTestId('f-name').fill('EU leads');
    await page.getByTestId('f-caller_id').fill('+15551230000');
    await page.getByTestId('f-action_kind').selectOption('twiml');
    await page.getByTestId('f-action_value').fill('<Response/>');
    await page.getByTestId('f-provider_account').selectOption('sub-eu');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/EU leads \(#\d+\) created/);
    const id = /#(\d+)/.exec(await text(page, 'controls-result'))![1]!;
    const stored = await withClient((c) => c.query('select provider_account from campaigns where id = $1', [id]));
    expect(stored.rows[0].provider_account).toBe('sub-eu');

    // Listed: the campaign names its account, the account counts the campaign (and loses its Delete).
    const account = page.getByTestId('campaign-row').filter({ hasText: 'EU leads' }).getByTestId('campaign-account');
    await expect.poll(async () => (await account.count()) > 0 ? await account.textContent() : '', { timeout: 20_000 }).toBe(
      'account sub-eu',
    );
    await expect.poll(() => rowText(page, 'sub-eu'), { timeout: 20_000 }).toMatch(new RegExp(`1 \\(#${id}\\)`));
    expect(await page.getByTestId('account-delete-sub-eu').count()).toBe(0);
    // The edit form shows the account chosen.
    await page.getByTestId('campaign-select').selectOption(id);
    await page.getByTestId('campaign-edit').click();
    expect(await page.getByTestId('f-provider_account').inputValue()).toBe('sub-eu');

    // Its breaker opens: the card says so at the next status refresh (every 5 s; brought forward).
    await withClient((c) =>
      c.query(
        `insert into provider_circuit_breakers (account, state, consecutive_failures, opened_at, open_until, last_failure_reason)
         values ('sub-eu', 'open', 5, now(), now() + interval '10 minutes', 'Twilio 20003: Authenticate')`,
      )
    );
    await dash.nextStatusRefresh(page);
    await expect.poll(() => rowText(page, 'sub-eu'), { timeout: 20_000 }).toMatch(/open until .*twilio 20003: authenticate/);

    // An unused account is deleted from its row.
    await page.getByTestId('account-id').fill('spare');
    await page.getByTestId('account-sid').fill('');
    await page.getByTestId('account-cps').fill('');
    await page.getByTestId('account-cap').fill('');
    await page.getByTestId('account-save').click();
    await expect.poll(() => rowText(page, 'spare'), { timeout: 15_000 }).toMatch(/^spare twilio 1 \(global\) 0 \/ no cap/);
    await page.getByTestId('account-delete-spare').click();
    await expect.poll(() => text(page, 'account-result'), { timeout: 15_000 }).toBe('Account spare deleted.');
    await expect.poll(() => page.getByTestId('account-spare').count(), { timeout: 15_000 }).toBe(0);

    await page.getByTestId('accounts').screenshot({ path: SCREENSHOT });
    const audit = await withClient((c) =>
      c.query<{ action: string; subject: string }>('select action, subject from operator_audit_log order by id')
    );
    expect(audit.rows.map((r) => `${r.action} ${r.subject}`)).toEqual([
      'account.create account sub-eu',
      'account.update account sub-eu',
      `campaign.create campaign ${id}`,
      'account.create account spare',
      'account.delete account spare',
    ]);
  });

  it("creates a Vapi account at its plan's default cap and a campaign on it with its assistant and number", async () => {
    const page = await signedIn();
    await page.getByTestId('account-id').fill('vapi-main');
    await page.getByTestId('account-kind').selectOption('vapi');
    await page.getByTestId('account-sid').fill('');
    await page.getByTestId('account-cps').fill('');
    await page.getByTestId('account-cap').fill('');
    await page.getByTestId('account-save').click();
    await expect.poll(() => text(page, 'account-result'), { timeout: 15_000 }).toMatch(/Account vapi-main created: .*cap 10/);
    await expect.poll(() => rowText(page, 'vapi-main'), { timeout: 15_000 }).toMatch(
      /^vapi-main vapi 1 \(global\) 0 \/ 10 closed none/,
    );

    await page.getByTestId('campaign-new').click();
    await page.getByTestId('f-name').fill('Vapi leads');
    await page.getByTestId('f-caller_id').fill('+15551230001');
    await page.getByTestId('f-action_kind').selectOption('assistant_id');
    await page.getByTestId('f-action_value').fill('asst_123');
    await page.getByTestId('f-phone_number_id').fill('pn_456');
    await page.getByTestId('f-provider_account').selectOption('vapi-main');
    await page.getByTestId('campaign-save').click();
    await expect.poll(() => text(page, 'controls-result'), { timeout: 15_000 }).toMatch(/Vapi leads \(#\d+\) created/);
    const id = /#(\d+)/.exec(await text(page, 'controls-result'))![1]!;
    const stored = await withClient((c) =>
      c.query('select provider, provider_account, provider_settings, set_up_problem from campaigns where id = $1', [id])
    );
    expect(stored.rows[0]).toEqual({
      provider: 'vapi',
      provider_account: 'vapi-main',
      provider_settings: { assistant_id: 'asst_123', phone_number_id: 'pn_456' },
      set_up_problem: null,
    });
  });
});
