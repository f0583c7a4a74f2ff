// Headless Chromium for the end-to-end tests: the machine's Debian chromium driven by
// playwright-core (no browser download). CHROMIUM_PATH overrides the executable.

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (p): p is string => !!p,
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('Chromium is not installed: apt-get install chromium (or set CHROMIUM_PATH)');
  return found;
}

/**
 * The environment without libfaketime (`npm test --clock-offset` preloads it into the suites):
 * Chromium's renderers do not come up under it, so the browser keeps the machine's clock.
 */
function chromiumEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FAKETIME')) env[k] = v;
  const preload = (env.LD_PRELOAD ?? '').split(':').filter((p) => p && !/libfaketime/.test(p));
  if (preload.length) env.LD_PRELOAD = preload.join(':');
  else delete env.LD_PRELOAD;
  return env;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 60_000, env: chromiumEnv() });
}
