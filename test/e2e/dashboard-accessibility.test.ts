// The signed-in dashboard, checked for accessibility in real headless Chromium: axe-core's WCAG 2.x
// A and AA rules find nothing (contrast, table headers, names of controls, scrollable regions the
// keyboard can reach), in the light and the dark colour scheme, with a campaign, a run and a call
// on the page and a person found on the "Find a person" panel (its attempts and their evidence
// open), signed in as admin and as a viewer (the role note shown, the write controls disabled);
// and at a phone's width (390 px) the page does not scroll sideways.

import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ALL_DAY, seedCampaign } from '../../scripts/stack/demo-seed.ts';
import { withClient } from '../support/db.ts';
import { useDashboardStack } from './dashboard-stack.ts';

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const dash = useDashboardStack({
  seed: async (c) => {
    await seedCampaign(c, {
      name: 'Accessibility check',
      max_concurrent_calls: 2,
      priority: 1,
      time_zone: 'UTC',
      ...ALL_DAY,
      contacts: Array.from({ length: 3 }, (_, i) => ({ phone: `+44770090081${i}`, name: `Contact ${i}` })),
    });
  },
});

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[]; failureSummary?: string }>;
}

let ranTick = false;

/** A viewer's named token, made through the API with the admin token. */
async function viewerToken(): Promise<string> {
  const res = await fetch(`${dash.stack.functionsUrl}/scheduler-admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dash.stack.secrets.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `axe-viewer-${Date.now()}`, role: 'viewer' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

async function signedIn(width: number, colorScheme: 'light' | 'dark', token?: string): Promise<Page> {
  // One run, so that the run table and the campaign's counts have rows to check.
  if (!ranTick) {
    ranTick = true;
    await dash.stack.tickLocal();
  }
  // bypassCSP: the page's own policy would refuse the injected axe-core script (the page is unchanged).
  const page = await dash.freshPage({ viewport: { width, height: 900 }, colorScheme, bypassCSP: true });
  await dash.signIn(page, token);
  await page.getByTestId('whoami-role').waitFor({ state: 'visible', timeout: 15_000 });
  await page.getByTestId('trigger-button').waitFor({ state: 'visible', timeout: 15_000 });
  await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 15_000 }).toBeGreaterThan(0);
  await expect.poll(() => page.getByTestId('campaign-row').count(), { timeout: 15_000 }).toBe(1);
  return page;
}

/**
 * Shows a person on the "Find a person" panel: the number of a contact the tick called, so that its
 * attempts table and the evidence (opened) are on the page too.
 */
async function showPerson(page: Page): Promise<void> {
  const { rows } = await withClient((c) =>
    c.query<{ phone: string }>(
      `select ct.phone from public.contacts ct join public.calls cl on cl.contact_id = ct.id order by cl.id limit 1`,
    )
  );
  expect(rows).toHaveLength(1);
  await page.getByTestId('person-query').fill(rows[0]!.phone);
  await page.getByTestId('person-query').press('Enter');
  await page.getByTestId('person-call').first().waitFor({ state: 'visible', timeout: 15_000 });
  for (const summary of await page.locator('[data-testid="person-evidence"] summary').all()) await summary.click();
  await expect.poll(() => page.locator('[data-testid="person-evidence"][open]').count()).toBeGreaterThan(0);
}

/** axe-core's WCAG 2.0 / 2.1 / 2.2 A and AA rules over the whole page: one line per failing element. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: unknown[] }> } })
      .axe;
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    });
    return r.violations;
  }) as AxeViolation[];
  return violations.flatMap((v) =>
    v.nodes.map((n) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(n.target)}: ${n.failureSummary ?? ''}`)
  );
}

describe('dashboard accessibility', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`axe-core finds no WCAG A / AA violation on the signed-in page, a person shown (${scheme} scheme)`, async () => {
      const page = await signedIn(1280, scheme);
      await showPerson(page);
      expect(await axeViolations(page)).toEqual([]);
      await page.context().close();
    });
  }

  for (const scheme of ['light', 'dark'] as const) {
    it(`axe-core finds nothing signed in as a viewer, the write controls disabled (${scheme} scheme)`, async () => {
      const page = await signedIn(1280, scheme, await viewerToken());
      await page.getByTestId('role-note').waitFor({ state: 'visible', timeout: 15_000 });
      expect(await page.getByTestId('trigger-button').isDisabled()).toBe(true);
      await showPerson(page);
      expect(await axeViolations(page)).toEqual([]);
      await page.context().close();
    });
  }

  it('does not scroll sideways at a phone width of 390 px, and axe-core finds nothing there either', async () => {
    const page = await signedIn(390, 'light');
    await showPerson(page);
    // The elements that reach past the right edge (outside the tables, which scroll in their own
    // box), the outermost of each, so that a failure names what to fix.
    const wide = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const out: string[] = [];
      for (const el of document.querySelectorAll<HTMLElement>('body, body *')) {
        if (el.parentElement?.closest('.table-wrap') || el.getClientRects().length === 0) continue;
        const right = el.getBoundingClientRect().right;
        const parent = el.parentElement;
        if (right > width + 1 && !(parent && parent.getBoundingClientRect().right > width + 1)) {
          out.push(
            `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')} right ${Math.round(right)}`,
          );
        }
      }
      return { overflow: document.documentElement.scrollWidth - width, out };
    });
    expect(wide.out).toEqual([]);
    expect(wide.overflow).toBeLessThanOrEqual(0);
    expect(await axeViolations(page)).toEqual([]);
    await page.context().close();
  });
});
