// The dashboard's "Outcome webhooks" card, end to end in real headless Chromium against the whole
// stack (Deno functions gateway, local Vercel, the test database) and a loopback receiver: add an
// endpoint (a bad URL refused, said on the card; the generated secret shown once), see a failed
// delivery in its log after a tick, replay it and see it delivered after the next tick, disable
// and delete the endpoint; a viewer reads the log but cannot change anything.

import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { withClient } from '../support/db.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'dashboard-webhooks.png');

const dash = useDashboardStack();
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

async function signedIn(token?: string): Promise<Page> {
  const page = await dash.freshPage({ onDialog: (d) => void d.accept() });
  await dash.signIn(page, token);
  await page.getByTestId('webhooks').waitFor({ state: 'visible', timeout: 15_000 });
  return page;
}

const text = async (page: Page, testid: string) => (await page.getByTestId(testid).textContent()) ?? '';
const rowText = async (page: Page, testid: string) => {
  const row = page.getByTestId(testid);
  return (await row.count()) > 0 ? (await row.innerText()).replace(/\s+/g, ' ').toLowerCase() : '';
};

async function viewerToken(): Promise<string> {
  const res = await fetch(`${dash.stack.functionsUrl}/scheduler-admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dash.stack.secrets.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `webhooks-viewer-${Date.now()}`, role: 'viewer' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe('dashboard outcome webhooks', () => {
  it('adds an endpoint (secret shown once), shows a failed delivery, replays it, disables and deletes', async () => {
    const page = await signedIn();

    await page.getByTestId('webhook-url').fill('ftp://crm.example.com/hooks');
    await page.getByTestId('webhook-save').click();
    await expect.poll(() => text(page, 'webhook-result'), { timeout: 15_000 }).toMatch(/^Not added: .*https:\/\//);

    await page.getByTestId('webhook-url').fill(receiver.url);
    await page.getByTestId('webhook-description').fill('CRM');
    await page.getByTestId('webhook-save').click();
    await expect.poll(() => text(page, 'webhook-result'), { timeout: 15_000 }).toMatch(/Endpoint .* added \(#(\d+)\)/);
    const id = /#(\d+)/.exec(await text(page, 'webhook-result'))![1]!;
    const secret = (await page.locator('#webhook-secret-value').textContent()) ?? '';
    expect(secret).toMatch(/^whsec_/);
    expect(await page.getByTestId('webhook-secret').isVisible()).toBe(true);
    await expect.poll(() => rowText(page, `webhook-${id}`), { timeout: 15_000 }).toContain(
      'call.completed, campaign.status_changed, contact.finished enabled 0 delivered, 0 pending, 0 dead',
    );

    // An event the receiver refuses: after a tick, the log shows the attempt.
    receiver.answer = () => 500;
    await withClient(async (c) => {
      await c.query(`update public.webhook_settings set retry_schedule = '{1 hour}'`);
      await c.query(`select public._enqueue_webhook_event('call.completed', '{"call_id": "1"}', now())`);
    });
    await dash.stack.tickLocal();
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(async () => {
      const { rows } = await withClient((c) => c.query('select count(*)::int as n from public.webhook_delivery_attempts'));
      return rows[0].n;
    }, { timeout: 15_000 }).toBe(1);
    await page.getByTestId(`webhook-log-${id}`).click();
    await expect.poll(() => rowText(page, 'webhook-deliveries-table'), { timeout: 15_000 }).toMatch(
      /call\.completed msg_[0-9a-f]{32} pending 1 http 500/,
    );

    // Replayed from its row: the next tick delivers it.
    receiver.answer = () => 200;
    const deliveryRow = page.locator('[data-testid^="webhook-delivery-replay-"]');
    await deliveryRow.click();
    await expect.poll(() => text(page, 'webhook-result'), { timeout: 15_000 }).toBe('1 delivery queued again.');
    await dash.stack.tickLocal();
    await expect.poll(async () => {
      const { rows } = await withClient((c) => c.query(`select status from public.webhook_deliveries`));
      return rows[0]?.status;
    }, { timeout: 15_000 }).toBe('delivered');
    await page.locator('#webhooks-refresh').click();
    await expect.poll(() => rowText(page, `webhook-${id}`), { timeout: 15_000 }).toContain('1 delivered, 0 pending, 0 dead');
    await expect.poll(() => rowText(page, 'webhook-deliveries-table'), { timeout: 15_000 }).toMatch(/delivered 1 http 200/);

    // A viewer reads the endpoints and the log, and changes nothing.
    const viewer = await signedIn(await viewerToken());
    await expect.poll(() => rowText(viewer, `webhook-${id}`), { timeout: 15_000 }).toContain('enabled');
    expect(await viewer.getByTestId('webhook-save').isDisabled()).toBe(true);
    expect(await viewer.getByTestId(`webhook-toggle-${id}`).isDisabled()).toBe(true);
    expect(await viewer.getByTestId(`webhook-delete-${id}`).isDisabled()).toBe(true);
    await viewer.getByTestId(`webhook-log-${id}`).click();
    await expect.poll(() => rowText(viewer, 'webhook-deliveries-table'), { timeout: 15_000 }).toMatch(/delivered/);
    await viewer.context().close();

    await page.getByTestId(`webhook-toggle-${id}`).click();
    await expect.poll(() => rowText(page, `webhook-${id}`), { timeout: 15_000 }).toContain(' disabled ');
    await page.screenshot({ path: SCREENSHOT, fullPage: false });
    await page.getByTestId(`webhook-delete-${id}`).click();
    await expect.poll(() => page.getByTestId(`webhook-${id}`).count(), { timeout: 15_000 }).toBe(0);
    const audit = await withClient((c) =>
      c.query(`select action from public.operator_audit_log where action like 'webhook.%' order by id`)
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['webhook.create', 'webhook.replay', 'webhook.disable', 'webhook.delete']);
    await page.context().close();
  });
});
