// What every dashboard test file needs: the whole stack (simulator, Deno functions gateway, local
// Vercel) against the test database, and real headless Chromium. useDashboardStack() registers the
// file's hooks: before its tests, reset the data (then seed it) and start the stack and the browser;
// after them, stop both and reset the data; after a failing test, print what the services said.

import type pg from 'pg';
import type { Browser, BrowserContextOptions, Dialog, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack/stack.ts';
import { resetData, testDbUrl, withClient } from '../support/db.ts';
import { launchChromium } from './browser.ts';

export interface PageOptions {
  /** Default 1280 x 1000. */
  viewport?: { width: number; height: number };
  /** Default light. */
  colorScheme?: 'light' | 'dark';
  timezoneId?: string;
  acceptDownloads?: boolean;
  /** Lets a test inject a script (axe-core) that the page's own CSP would refuse. */
  bypassCSP?: boolean;
  /** Answers the page's confirm / prompt dialogs (default: none is expected). */
  onDialog?: (dialog: Dialog) => void;
  /**
   * Installs Playwright's clock in the page before it loads: its time flows as usual, and
   * nextStatusRefresh() can bring the next status refresh forward instead of waiting for it.
   */
  clock?: boolean;
}

/** The dashboard's status refresh interval (REFRESH_MS in public/js/state.js). */
export const DASHBOARD_REFRESH_MS = 5_000;

export interface DashboardStack {
  /** The running stack (from the first test on). */
  readonly stack: Stack;
  /** The services' last 200 log lines, and the page's errors. */
  readonly serviceLog: string[];
  /** A page in a context of its own (nothing kept from another sign-in), the dashboard loaded. */
  freshPage(opts?: PageOptions): Promise<Page>;
  /** Signs in on a loaded dashboard with a token (default: the admin token). */
  signIn(page: Page, token?: string): Promise<void>;
  /**
   * Moves a page's clock (a page opened with `clock: true`) one refresh interval forward, so that
   * its next status refresh (GET /status) starts now rather than within 5 s. What the refresh
   * shows is then awaited as before.
   */
  nextStatusRefresh(page: Page): Promise<void>;
}

export function useDashboardStack(
  opts: { seed?: (c: pg.Client) => Promise<void>; setupTimeoutMs?: number } = {},
): DashboardStack {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  const serviceLog: string[] = [];

  beforeAll(async () => {
    await withClient(async (c) => {
      await resetData(c);
      await opts.seed?.(c);
    });
    stack = await startStack({
      databaseUrl: testDbUrl(),
      migrate: false,
      log: () => {},
      onServiceLog: (service, line) => {
        serviceLog.push(`[${service}] ${line}`);
        if (serviceLog.length > 200) serviceLog.shift();
      },
    });
    browser = await launchChromium();
  }, opts.setupTimeoutMs);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await withClient(resetData);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') process.stderr.write(`${serviceLog.join('\n')}\n`);
  });

  const running = (): Stack => {
    if (!stack) throw new Error("the dashboard stack is not running (used outside the file's tests?)");
    return stack;
  };

  return {
    get stack() {
      return running();
    },
    serviceLog,
    async freshPage(p: PageOptions = {}): Promise<Page> {
      const options: BrowserContextOptions = {
        viewport: p.viewport ?? { width: 1280, height: 1000 },
        colorScheme: p.colorScheme ?? 'light',
        locale: 'en-US',
        ...(p.timezoneId ? { timezoneId: p.timezoneId } : {}),
        ...(p.acceptDownloads ? { acceptDownloads: true } : {}),
        ...(p.bypassCSP ? { bypassCSP: true } : {}),
      };
      const page = await (await browser!.newContext(options)).newPage();
      page.on('pageerror', (err) => serviceLog.push(`[page] ${err.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') serviceLog.push(`[console] ${m.text()}`);
      });
      if (p.onDialog) page.on('dialog', p.onDialog);
      if (p.clock) await page.clock.install();
      await page.goto(running().dashboardUrl);
      return page;
    },
    async signIn(page: Page, token?: string): Promise<void> {
      await page.getByTestId('token-input').fill(token ?? running().secrets.adminToken);
      await page.getByTestId('login-submit').click();
    },
    async nextStatusRefresh(page: Page): Promise<void> {
      await page.clock.fastForward(DASHBOARD_REFRESH_MS);
    },
  };
}
