// Safe by default on the public internet, each default against the running stack: the
// real Deno gateway serving each function's index.ts, the real database, the built Vercel output
// served by the local server, and real Chromium.
//   * metrics: closed without METRICS_TOKEN (see also test/functions/scheduler-metrics.test.ts);
//   * named operator tokens: made by ADMIN_TOKEN, shown once, stored hashed, revoked and expired
//     ones refused, ADMIN_TOKEN_PREVIOUS during a rotation, every action in the audit trail;
//   * brute force: 100 wrong secrets in a row from the cron caller's address, then the right one:
//     accepted; failures counted per source in auth_failures, 429 with Retry-After over the limit
//     (see also auth-limit.test.ts: a forged X-Forwarded-For does not make a new source);
//   * CORS: only DASHBOARD_ORIGIN; a foreign preflight gets no allow headers;
//   * the dashboard's headers in the built output and on the served page; Chromium refuses to
//     frame it from another origin;
//   * no token, secret or token hash in any response, log line, run-log or audit row.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildOutputConfig, ensureVercelBuild, VERCEL_OUTPUT_DIR } from '../../scripts/stack/vercel-build.ts';
import { REPO_ROOT, startVercelLocal, type VercelLocal } from '../../scripts/stack/vercel-local.ts';
import { startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { generateOperatorToken } from '../../supabase/functions/_shared/operator-auth.ts';
import { createOperatorToken } from '../../supabase/functions/_shared/queries.ts';
import { launchChromium } from '../e2e/browser.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, signedCallback, startGateway } from '../support/functions.ts';

const DASHBOARD = 'https://dashboard.example.org';
const FOREIGN = 'https://evil.example.net';

let db: pg.Client;
let sim: TwilioSimulator;
const gateways: Gateway[] = [];
/** Every response body and header seen, and every credential presented, for the leak scan. */
const responses: string[] = [];
const credentials = new Set<string>();

// deno-lint-ignore no-explicit-any -- tests read whatever an answer holds
async function hit(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  responses.push(`${url} ${res.status}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${text}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

const bearer = (s: string) => ({ authorization: `Bearer ${s}` });
const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startTwilioSimulator({ seed: 15, callbacks: false });
});

afterAll(async () => {
  for (const g of gateways) await g.stop('SIGKILL');
  await sim?.close();
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
});

async function gateway(
  extra: Record<string, string | undefined>,
): Promise<{ gw: Gateway; env: Record<string, string | undefined> }> {
  // TRUSTED_PROXY_HOPS=2: the X-Forwarded-For a test sends plays the platform's proxy, in front of
  // the local gateway (which appends 127.0.0.1), so a test can come from several addresses.
  const env = functionsEnv(sim, { DASHBOARD_ORIGIN: DASHBOARD, TRUSTED_PROXY_HOPS: '2', ...extra });
  for (const k of ['CRON_SECRET', 'ADMIN_TOKEN', 'ADMIN_TOKEN_PREVIOUS', 'METRICS_TOKEN']) if (env[k]) credentials.add(env[k]!);
  const gw = await startGateway(env);
  gateways.push(gw);
  return { gw, env };
}

describe('named operator credentials', () => {
  it('ADMIN_TOKEN makes a named token, shown once and stored as its SHA-256; revoked and expired tokens are refused; every action is audited', async () => {
    const previous = randomSecret('admin-previous');
    const { gw, env } = await gateway({ ADMIN_TOKEN_PREVIOUS: previous });
    const admin = env.ADMIN_TOKEN!;
    const admin$ = (p: string, init: RequestInit = {}) => hit(`${gw.url}/scheduler-admin${p}`, init);
    const json = { 'content-type': 'application/json' };

    // Made by the bootstrap credential: the token once, in the answer.
    const made = await admin$('/tokens', {
      method: 'POST',
      headers: { ...bearer(admin), ...json },
      body: JSON.stringify({ name: 'alice', role: 'admin', expires_in_days: 30 }),
    });
    expect(made.status).toBe(201);
    const alice = String(made.json.token);
    credentials.add(alice);
    expect(alice).toMatch(/^op_[A-Za-z0-9_-]{43}$/);
    expect(made.json).toMatchObject({ name: 'alice' });
    const { rows: stored } = await db.query<{ hex: string; name: string }>(
      `select encode(token_sha256, 'hex') as hex, name from public.operator_tokens`,
    );
    expect(stored).toEqual([{ hex: sha256hex(alice), name: 'alice' }]);
    expect(JSON.stringify(await db.query('select * from public.operator_tokens').then((r) => r.rows))).not.toContain(alice);

    // The named token works, and makes (and revokes) another one.
    expect((await admin$('/status', { headers: bearer(alice) })).status).toBe(200);
    const bob = await admin$('/tokens', {
      method: 'POST',
      headers: { ...bearer(alice), ...json },
      body: JSON.stringify({ name: 'bob', role: 'admin' }),
    });
    expect(bob.status).toBe(201);
    credentials.add(String(bob.json.token));
    expect((await admin$('/status', { headers: bearer(bob.json.token) })).status).toBe(200);
    const list = await admin$('/tokens', { headers: bearer(bob.json.token) });
    expect(list.json.tokens.map((t: { name: string; state: string }) => `${t.name}:${t.state}`)).toEqual([
      'alice:valid',
      'bob:valid',
    ]);
    expect(list.text).not.toContain('sha256');
    // A name already live is refused.
    expect(
      (await admin$('/tokens', { method: 'POST', headers: { ...bearer(admin), ...json }, body: JSON.stringify({ name: 'BOB' }) }))
        .status,
    ).toBe(409);

    // Revoked: refused at once.
    const revoked = await admin$(`/tokens/${bob.json.id}`, { method: 'DELETE', headers: bearer(alice) });
    expect(revoked.status).toBe(200);
    for (const p of ['/status', '/tokens']) {
      const r = await admin$(p, { headers: bearer(bob.json.token) });
      expect(r.status, p).toBe(401);
      expect(r.json).toEqual({ error: 'unauthorized' });
    }
    expect((await admin$(`/tokens/${bob.json.id}`, { method: 'DELETE', headers: bearer(alice) })).status).toBe(404);

    // Expired: made yesterday for a day that has passed.
    const carol = generateOperatorToken();
    credentials.add(carol);
    const dayMs = 86_400_000;
    await createOperatorToken(db, {
      name: 'carol',
      sha256: new Uint8Array(createHash('sha256').update(carol).digest()),
      expiresAt: new Date(Date.now() - 60_000),
      role: 'viewer',
      actor: 'cli:test',
      actorTokenId: null,
      actorRole: 'admin',
      now: new Date(Date.now() - dayMs),
    });
    expect((await admin$('/status', { headers: bearer(carol) })).status).toBe(401);
    expect(
      (await admin$('/tokens', { headers: bearer(admin) })).json.tokens.find((t: { name: string }) => t.name === 'carol').state,
    ).toBe('expired');

    // ADMIN_TOKEN_PREVIOUS works during a rotation; its manual trigger is audited under its name.
    const trig = await admin$('/trigger', { method: 'POST', headers: bearer(previous) });
    expect(trig.status).toBe(200);

    const { rows: audit } = await db.query<
      { actor: string; action: string; subject: string | null; before: unknown; after: unknown }
    >(
      'select actor, action, subject, before, after from public.operator_audit_log order by id',
    );
    const aliceId =
      (await db.query<{ id: string }>(`select id::text from public.operator_tokens where name = 'alice'`)).rows[0]!.id;
    expect(audit.map((a) => `${a.actor} ${a.action} ${a.subject}`)).toEqual([
      'admin_token token.create alice',
      `operator:${aliceId}:alice token.create bob`,
      `operator:${aliceId}:alice token.revoke bob`,
      'cli:test token.create carol',
      `admin_token_previous tick.trigger run ${trig.json.run_id}`,
    ]);
    expect(audit[2]!.before).toMatchObject({ name: 'bob', revoked_at: null });
    expect(audit[2]!.after).toMatchObject({ name: 'bob', revoked_by: `operator:${aliceId}:alice` });
    expect(audit[4]!.after).toMatchObject({ run_id: trig.json.run_id, status: 'ok' });

    // Nothing anywhere holds a token or its hash.
    const { rows: runLog } = await db.query<{ t: string }>('select row_to_json(r)::text as t from public.scheduler_runs r');
    const haystacks: Array<[string, string]> = [
      ['responses (except the one that handed each token out)', responses.filter((r) => !/\/tokens 201\n/.test(r)).join('\n')],
      ['functions log', gw.logs.join('\n')],
      ['audit trail', JSON.stringify(audit)],
      ['run log', runLog.map((r) => r.t).join('\n')],
    ];
    const leaks: string[] = [];
    for (const c of credentials) {
      for (const [where, text] of haystacks) {
        if (text.includes(c)) leaks.push(`a credential in ${where}`);
        if (text.includes(sha256hex(c))) leaks.push(`a token hash in ${where}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});

describe('brute force', () => {
  it("100 wrong secrets in a row from the cron caller's address, then the right one: accepted; the failures are counted and limited per source", async () => {
    const { gw, env } = await gateway({});
    const cron = '203.0.113.7';
    const tick = (s: string, from = cron) =>
      hit(`${gw.url}/scheduler-tick`, { method: 'POST', headers: { ...bearer(s), 'x-forwarded-for': from } });
    const statuses: number[] = [];
    let lastRetryAfter = '';
    for (let i = 0; i < 100; i++) {
      const wrong = randomSecret('guess');
      const r = await tick(wrong);
      statuses.push(r.status);
      if (r.status === 429) lastRetryAfter = r.headers.get('retry-after') ?? '';
    }
    // The default limit: 20 failures in 15 minutes answer 401, the rest 429 with Retry-After.
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(80).fill(429));
    expect(Number(lastRetryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(lastRetryAfter)).toBeLessThanOrEqual(900);

    // The right secret from the same address: never refused by the limiter.
    const right = await tick(env.CRON_SECRET!);
    expect(right.status).toBe(200);
    expect(right.json).toMatchObject({ status: 'ok' });
    expect((await tick(env.CRON_SECRET!)).status).toBe(200);

    // Another source is not limited by the first one's failures.
    expect((await tick(randomSecret('guess'), '198.51.100.9')).status).toBe(401);

    // Other functions count against the same source: admin, metrics, a forged callback.
    const other = '192.0.2.44';
    const from = { 'x-forwarded-for': other };
    expect((await hit(`${gw.url}/scheduler-admin/status`, { headers: { ...bearer('op_nope'), ...from } })).status).toBe(401);
    const forged = await signedCallback(`${sim.authToken}x`, gw.url, '1', { CallSid: 'CA1', CallStatus: 'completed' });
    expect((await hit(forged.url, { method: 'POST', headers: { ...forged.headers, ...from }, body: forged.body })).status).toBe(
      403,
    );

    const { rows } = await db.query<{ source: string; failures: number; limited: boolean; last_function: string }>(
      'select source, failures, limited_since is not null as limited, last_function from public.auth_failures order by source',
    );
    expect(rows).toEqual([
      { source: other, failures: 2, limited: false, last_function: 'call-status' },
      { source: '198.51.100.9', failures: 1, limited: false, last_function: 'scheduler-tick' },
      // 20 failures and the one that crossed the limit; the other 79 were refused in memory, unwritten.
      { source: cron, failures: 21, limited: true, last_function: 'scheduler-tick' },
    ]);
    expect(gw.events('auth_failures_limited')).toHaveLength(1);
    // The successful ticks ran; the refused ones left no run row.
    expect((await db.query('select count(*)::int as n from public.scheduler_runs')).rows[0].n).toBe(2);
    const table = JSON.stringify((await db.query('select * from public.auth_failures')).rows);
    expect(table).not.toContain(env.CRON_SECRET!);
    expect(table).not.toContain('guess-');
  });

  it('a limited source answers 429 on metrics and admin too, and the right credentials still pass', async () => {
    const metrics = randomSecret('metrics');
    const { gw, env } = await gateway({ METRICS_TOKEN: metrics, AUTH_FAILURE_LIMIT: '3' });
    const from = { 'x-forwarded-for': '203.0.113.99' };
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push((await hit(`${gw.url}/scheduler-metrics`, { headers: { ...bearer(`m${i}`), ...from } })).status);
    }
    const limitedAdmin = await hit(`${gw.url}/scheduler-admin/status`, {
      headers: { ...bearer('wrong'), ...from, origin: DASHBOARD },
    });
    expect(codes).toEqual([401, 401, 401]);
    expect(limitedAdmin.status).toBe(429);
    expect(limitedAdmin.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(limitedAdmin.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect((await hit(`${gw.url}/scheduler-metrics`, { headers: { ...bearer(metrics), ...from } })).status).toBe(200);
    expect((await hit(`${gw.url}/scheduler-admin/status`, { headers: { ...bearer(env.ADMIN_TOKEN!), ...from } })).status).toBe(
      200,
    );
  });
});

describe('CORS', () => {
  it('answers only DASHBOARD_ORIGIN; a preflight from a foreign origin gets no allow headers; * only when set', async () => {
    const { gw, env } = await gateway({ DASHBOARD_ORIGIN: `${DASHBOARD}, http://127.0.0.1:3000` });
    const preflight = (url: string, origin: string) =>
      hit(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });

    const foreign = await preflight(`${gw.url}/scheduler-admin/trigger`, FOREIGN);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.headers.get('access-control-allow-headers')).toBeNull();
    expect(foreign.headers.get('access-control-allow-methods')).toBeNull();
    const ours = await preflight(`${gw.url}/scheduler-admin/trigger`, DASHBOARD);
    expect(ours.status).toBe(204);
    expect(ours.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(ours.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(ours.headers.get('vary')).toMatch(/Origin/);
    expect(
      (await preflight(`${gw.url}/scheduler-admin/status`, 'http://127.0.0.1:3000')).headers.get('access-control-allow-origin'),
    ).toBe('http://127.0.0.1:3000');
    // A real request from the foreign origin: answered (the token decides), but the browser gets no allow header.
    const read = await hit(`${gw.url}/scheduler-admin/status`, { headers: { ...bearer(env.ADMIN_TOKEN!), origin: FOREIGN } });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBeNull();

    // Unset: no origin at all, and the start-up log says so; '*' only when asked for.
    const { gw: none } = await gateway({ DASHBOARD_ORIGIN: undefined });
    expect((await preflight(`${none.url}/scheduler-admin/status`, DASHBOARD)).headers.get('access-control-allow-origin'))
      .toBeNull();
    expect(none.events('cors_closed')).toHaveLength(1);
    const { gw: any } = await gateway({ DASHBOARD_ORIGIN: '*' });
    expect((await preflight(`${any.url}/scheduler-admin/status`, FOREIGN)).headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe("the dashboard's headers", () => {
  let vercel: (VercelLocal & { pid: number }) | undefined;
  let browser: Browser | undefined;
  let framer: http.Server | undefined;

  afterAll(async () => {
    await browser?.close();
    await vercel?.close();
    await new Promise<void>((resolve) => (framer ? framer.close(() => resolve()) : resolve()));
  });

  const EXPECTED = {
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  };

  function expectStrictCsp(csp: string | null | undefined): void {
    expect(csp).toBeTruthy();
    const directives: Record<string, string[]> = Object.fromEntries(
      csp!.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]),
    );
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    // No wildcard source, no whole scheme.
    for (const [name, values] of Object.entries(directives)) {
      const loose = values.filter((v) => v === '*' || v === 'https:' || v === 'http:' || (v === 'data:' && name !== 'img-src'));
      expect(loose, name).toEqual([]);
    }
  }

  it('are in the built output (config.json, from vercel.json), and the page has no inline script or style', async () => {
    await ensureVercelBuild();
    const config = (await buildOutputConfig()) as {
      routes: Array<{ src?: string; headers?: Record<string, string>; has?: unknown }>;
    };
    const all = config.routes.find((r) => r.headers && !r.has && new RegExp(r.src!).test('/'));
    expect(all).toBeDefined();
    const headers = Object.fromEntries(Object.entries(all!.headers!).map(([k, v]) => [k.toLowerCase(), v]));
    expect(headers).toMatchObject(EXPECTED);
    expectStrictCsp(headers['content-security-policy']);
    expect(headers['content-security-policy']).toMatch(/connect-src 'self' https:\/\/\*\.supabase\.co;/);

    const html = await readFile(path.join(VERCEL_OUTPUT_DIR, 'static', 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    // One module entry point, same origin; its modules import one another by relative path only
    // (script-src 'self' covers them), and every one is in the built output.
    expect(html).toMatch(/<script type="module" src="\/js\/main\.js"><\/script>/);
    for (const f of (await readdir(path.join(REPO_ROOT, 'public', 'js'))).filter((n) => n.endsWith('.js'))) {
      const source = await readFile(path.join(VERCEL_OUTPUT_DIR, 'static', 'js', f), 'utf8');
      for (const [, spec] of source.matchAll(/^import\b[^'"]*['"]([^'"]+)['"]/gm)) expect(spec, f).toMatch(/^\.\/[a-z-]+\.js$/);
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
  });

  it('are sent with the served page, and Chromium refuses to frame it from another origin', async () => {
    const { gw } = await gateway({});
    vercel = await startVercelLocal({
      env: { SUPABASE_FUNCTIONS_URL: gw.url, CRON_SECRET: undefined, SCHEDULER_TICK_URL: undefined },
    });
    const page = await hit(`${vercel.url}/`);
    expect(page.status).toBe(200);
    for (const [k, v] of Object.entries(EXPECTED)) expect(page.headers.get(k), k).toBe(v);
    expectStrictCsp(page.headers.get('content-security-policy'));
    // Served on loopback: the local variant lets the page reach the local functions.
    expect(page.headers.get('content-security-policy')).toMatch(/connect-src 'self' http:\/\/127\.0\.0\.1:\*/);
    // On every answer, errors and API routes included, as Vercel sends them.
    for (const other of ['/no-such-page', '/api/dashboard-config']) {
      expect((await hit(`${vercel.url}${other}`)).headers.get('x-frame-options'), other).toBe('DENY');
    }
    // The stylesheet and every module of the dashboard, with the content type a browser needs to
    // run a module (it refuses one sent as anything else, nosniff or not).
    const modules = (await readdir(path.join(REPO_ROOT, 'public', 'js'))).filter((f) => f.endsWith('.js'));
    expect(modules).toContain('main.js');
    for (const asset of ['/dashboard.css', ...modules.map((f) => `/js/${f}`)]) {
      const res = await hit(`${vercel.url}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('x-content-type-options'), asset).toBe('nosniff');
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.js') ? /^text\/javascript\b/ : /^text\/css\b/);
    }

    // Another origin frames the dashboard.
    framer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>framer</title><iframe id="victim" src="${vercel!.url}/"></iframe>`);
    });
    await new Promise<void>((resolve) => framer!.listen(0, '127.0.0.1', () => resolve()));
    const framerUrl = `http://localhost:${(framer.address() as { port: number }).port}/`;
    browser = await launchChromium();
    const context = await browser.newContext();
    const tab = await context.newPage();
    const consoleLines: string[] = [];
    tab.on('console', (m) => consoleLines.push(m.text()));
    await tab.goto(framerUrl);
    await tab.waitForTimeout(1500);
    const victim = tab.frames().find((f) => f !== tab.mainFrame());
    // Refused: the frame holds Chromium's error page, never the dashboard.
    const title = victim ? await victim.title().catch(() => '') : '';
    const hasLogin = victim ? await victim.locator('#login-form').count().catch(() => 0) : 0;
    expect(title).not.toContain('Campaign scheduler');
    expect(hasLogin).toBe(0);
    expect(victim?.url() ?? '').not.toBe(`${vercel.url}/`);
    // ... and Chromium says why.
    expect(consoleLines.filter((l) => /Refused to frame|frame-ancestors|X-Frame-Options/i.test(l)), consoleLines.join('\n')).not
      .toEqual([]);

    // The same page opened directly loads, with no CSP violation.
    const direct = await context.newPage();
    const violations: string[] = [];
    direct.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await direct.goto(`${vercel.url}/`);
    await direct.getByTestId('login-form').waitFor({ state: 'visible', timeout: 15_000 });
    expect(violations).toEqual([]);
  });
});
