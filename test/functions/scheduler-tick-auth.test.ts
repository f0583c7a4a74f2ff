// scheduler-tick over real HTTP: who may trigger a tick, and what a bad request gets back.
// The real Deno gateway serves the functions; the tick runs against the real database (empty, so
// an accepted request does no calling) and the Twilio simulator on loopback.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { FAST_SETTINGS, newPool, resetData, updateSettings } from '../support/db.ts';
import {
  functionsEnv,
  type Gateway,
  looksLikeStackTrace,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

const SECRET = randomSecret();
const PREVIOUS = randomSecret();

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;
/** Every answer the gateway gave in this file, to look for leaked secrets at the end. */
const answers: HttpAnswer[] = [];
/** Every credential a request presented (right or wrong), none of which may show in a log. */
const presented = new Set<string>([SECRET, PREVIOUS]);

async function tick(init: RequestInit & { path?: string } = {}): Promise<HttpAnswer> {
  const { path = '', ...rest } = init;
  const answer = await request(`${gw.url}/scheduler-tick${path}`, { method: 'POST', ...rest });
  answers.push(answer);
  return answer;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

/** Near misses of the secret: each must be refused exactly like a wrong secret. */
function nearMisses(secret: string): Record<string, string> {
  const last = secret.at(-1)!;
  return {
    'one character off': secret.slice(0, -1) + (last === 'a' ? 'b' : 'a'),
    'a prefix': secret.slice(0, -1),
    'the first half': secret.slice(0, secret.length / 2),
    'with a suffix': `${secret}0`,
    'in upper case': secret.toUpperCase(),
    'with an inner space': `${secret.slice(0, 8)} ${secret.slice(8)}`,
    'with an inner tab': `${secret.slice(0, 8)}\t${secret.slice(8)}`,
    doubled: secret + secret,
  };
}

function expectUnauthorized(a: HttpAnswer): void {
  expect(a.status).toBe(401);
  expect(a.text).toBe('Unauthorized');
}

beforeAll(async () => {
  pool = newPool(4);
  sim = await startSim();
  // Not a test of the failure limit: these tests send many wrong secrets from one address, and a
  // source over the limit stays refused in the function's memory (auth-limit.ts) even after
  // resetData() empties auth_failures.
  gw = await startGateway(
    functionsEnv(sim, { CRON_SECRET: SECRET, CRON_SECRET_PREVIOUS: PREVIOUS, AUTH_FAILURE_LIMIT: '100000' }),
  );
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  await resetData(pool);
  await updateSettings(pool, FAST_SETTINGS);
});

describe('scheduler-tick authentication', () => {
  it('refuses a wrong secret with 401 and the bare word Unauthorized', async () => {
    const wrong = randomSecret();
    presented.add(wrong);
    const a = await tick({ headers: bearer(wrong) });
    expectUnauthorized(a);
    expect(a.headers.get('content-type') ?? '').not.toMatch(/json/);
    const b = await tick({ headers: { 'x-cron-secret': wrong } });
    expectUnauthorized(b);
    // Nothing ran: no run row was written.
    expect((await pool.query('select count(*)::int as n from public.scheduler_runs')).rows[0].n).toBe(0);
  });

  it('refuses a request without any secret with 401', async () => {
    expectUnauthorized(await tick());
    expectUnauthorized(await tick({ method: 'GET' }));
    expectUnauthorized(await tick({ headers: { authorization: 'Bearer' } }));
    expectUnauthorized(await tick({ headers: { authorization: '' } }));
    expectUnauthorized(await tick({ headers: { 'x-cron-secret': '' } }));
  });

  it('refuses every near miss of the secret, in either header', async () => {
    for (const [what, miss] of Object.entries(nearMisses(SECRET))) {
      presented.add(miss);
      const viaBearer = await tick({ headers: bearer(miss) });
      expect(viaBearer.status, `Bearer, ${what}`).toBe(401);
      expect(viaBearer.text).toBe('Unauthorized');
      const viaHeader = await tick({ headers: { 'x-cron-secret': miss } });
      expect(viaHeader.status, `x-cron-secret, ${what}`).toBe(401);
      expect(viaHeader.text).toBe('Unauthorized');
    }
  });

  it('refuses the secret under another scheme or with extra words', async () => {
    expectUnauthorized(await tick({ headers: { authorization: `Basic ${SECRET}` } }));
    expectUnauthorized(await tick({ headers: { authorization: `Token ${SECRET}` } }));
    expectUnauthorized(await tick({ headers: { authorization: `Bearer ${SECRET} extra` } }));
    expectUnauthorized(await tick({ headers: { authorization: `Bearer${SECRET}` } }));
    // The secret in the query string or in the body is not a credential.
    expectUnauthorized(await tick({ path: `?secret=${SECRET}` }));
    expectUnauthorized(
      await tick({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret: SECRET }) }),
    );
  });

  it('accepts Authorization: Bearer <secret> (what Vercel Cron sends) and x-cron-secret', async () => {
    const a = await tick({ headers: bearer(SECRET) });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ status: 'ok', skipped: false });
    const b = await tick({ headers: { 'x-cron-secret': SECRET } });
    expect(b.status).toBe(200);
    expect(b.json).toMatchObject({ status: 'ok' });
    const c = await tick({ headers: { authorization: `bearer ${SECRET}` } });
    expect(c.status, 'the scheme name is case-insensitive').toBe(200);
    const runs = await pool.query('select id::text, status::text from public.scheduler_runs order by id');
    expect(runs.rows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(runs.rows.map((r) => r.id)).toEqual([a.json.run_id, b.json.run_id, c.json.run_id]);
  });

  it('accepts the previous secret during a rotation', async () => {
    const a = await tick({ headers: bearer(PREVIOUS) });
    expect(a.status).toBe(200);
    expect(a.json.status).toBe('ok');
    const b = await tick({ headers: { 'x-cron-secret': PREVIOUS } });
    expect(b.status).toBe(200);
    // ... and its near misses are still refused.
    for (const miss of Object.values(nearMisses(PREVIOUS))) {
      presented.add(miss);
      expect((await tick({ headers: bearer(miss) })).status).toBe(401);
    }
  });

  it('takes a wrong Bearer as the answer even when x-cron-secret is right', async () => {
    const wrong = randomSecret();
    presented.add(wrong);
    expectUnauthorized(await tick({ headers: { ...bearer(wrong), 'x-cron-secret': SECRET } }));
  });
});

describe('scheduler-tick request handling', () => {
  it('serves GET and POST', async () => {
    const get = await tick({ method: 'GET', headers: bearer(SECRET) });
    expect(get.status).toBe(200);
    expect(get.json.status).toBe('ok');
    const post = await tick({ method: 'POST', headers: bearer(SECRET) });
    expect(post.status).toBe(200);
    expect(post.json.status).toBe('ok');
  });

  it('answers other methods with 405 and an Allow header', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const a = await tick({ method, headers: bearer(SECRET) });
      expect(a.status, method).toBe(405);
      expect(a.json).toEqual({ error: 'method_not_allowed' });
      expect(a.headers.get('allow')).toBe('GET, POST');
    }
    // Without a secret too: the method is refused before anything else.
    expect((await tick({ method: 'PUT' })).status).toBe(405);
  });

  it('refuses an oversized body with 413 and does no work', async () => {
    const big = JSON.stringify({ trigger: 'local', padding: 'x'.repeat(10_000) });
    const a = await tick({ headers: { ...bearer(SECRET), 'content-type': 'application/json' }, body: big });
    expect(a.status).toBe(413);
    expect(a.json.error).toBe('payload_too_large');
    expect(looksLikeStackTrace(a.text)).toBe(false);
    // Streamed without a content-length as well.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        controller.close();
      },
    });
    const b = await tick({
      headers: { ...bearer(SECRET), 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(b.status).toBe(413);
    expect((await pool.query('select count(*)::int as n from public.scheduler_runs')).rows[0].n).toBe(0);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const a = await tick({ headers: { ...bearer(SECRET), 'content-type': 'text/plain' }, body: 'trigger=vercel' });
    expect(a.status).toBe(415);
    expect(a.json).toEqual({ error: 'unsupported_media_type', message: 'body must be application/json' });
    const b = await tick({
      headers: { ...bearer(SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'trigger=vercel',
    });
    expect(b.status).toBe(415);
  });

  it('answers malformed input with 400, a clear message and no stack trace', async () => {
    const json = { ...bearer(SECRET), 'content-type': 'application/json' };
    const cases: Array<[string, RequestInit & { path?: string }, RegExp]> = [
      ['malformed JSON', { headers: json, body: '{"trigger": "vercel",' }, /not valid JSON/],
      ['a JSON array', { headers: json, body: '[1, 2]' }, /must be a JSON object/],
      ['an unknown field', { headers: json, body: JSON.stringify({ trigger: 'vercel', campaign: 1 }) }, /campaign/],
      ['an unknown trigger', { headers: json, body: JSON.stringify({ trigger: 'pg_cron' }) }, /trigger/],
      ['a bad scheduled_for', { headers: json, body: JSON.stringify({ scheduled_for: 'yesterday' }) }, /scheduled_for/],
      [
        'a scheduled_for without an offset',
        { headers: json, body: JSON.stringify({ scheduled_for: '2026-12-02T12:00:00' }) },
        /scheduled_for/,
      ],
      ['a bad scheduled_for in the query', { headers: bearer(SECRET), path: '?scheduled_for=soon' }, /scheduled_for/],
      ['a body that is not UTF-8', { headers: json, body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }, /UTF-8/],
    ];
    for (const [what, init, message] of cases) {
      const a = await tick(init);
      expect(a.status, what).toBe(400);
      expect(a.json?.error, what).toMatch(/^bad_/);
      expect(a.json?.message, what).toMatch(message);
      expect(looksLikeStackTrace(a.text), `${what}: ${a.text}`).toBe(false);
    }
    expect((await pool.query('select count(*)::int as n from public.scheduler_runs')).rows[0].n).toBe(0);
  });

  it('accepts a well-formed body with a trigger and scheduled_for', async () => {
    const a = await tick({
      headers: { ...bearer(SECRET), 'content-type': 'application/json' },
      body: JSON.stringify({ trigger: 'vercel', scheduled_for: '2026-12-02T12:00:00Z' }),
    });
    expect(a.status).toBe(200);
    const run = await pool.query('select trigger::text, scheduled_for from public.scheduler_runs where id = $1', [a.json.run_id]);
    expect(run.rows[0]).toEqual({ trigger: 'vercel', scheduled_for: new Date('2026-12-02T12:00:00Z') });
  });
});

describe('scheduler-tick without CRON_SECRET', () => {
  it('answers 500 server_misconfigured to everyone and logs a config_error naming CRON_SECRET', async () => {
    const env = functionsEnv(sim, { CRON_SECRET: undefined, CRON_SECRET_PREVIOUS: undefined });
    const closedDoor = await startGateway(env);
    try {
      for (const headers of [{}, bearer(SECRET), bearer(''), { 'x-cron-secret': 'anything' }] as Array<Record<string, string>>) {
        const a = await request(`${closedDoor.url}/scheduler-tick`, { method: 'POST', headers });
        answers.push(a);
        expect(a.status).toBe(500);
        expect(a.json).toEqual({ error: 'server_misconfigured' });
      }
      const get = await request(`${closedDoor.url}/scheduler-tick`, { headers: bearer(SECRET) });
      expect(get.status).toBe(500);
      const configErrors = closedDoor.events('config_error').filter((e) => e.service === 'scheduler-tick');
      expect(configErrors.length).toBeGreaterThan(0);
      expect(String(configErrors[0]!.message)).toMatch(/CRON_SECRET/);
      expect(configErrors[0]!.level).toBe('error');
      // Nothing ran.
      expect((await pool.query('select count(*)::int as n from public.scheduler_runs')).rows[0].n).toBe(0);
      for (const line of closedDoor.logs) expect(line).not.toContain(sim.authToken);
    } finally {
      await closedDoor.stop();
    }
  });

  it('treats a blank CRON_SECRET as missing, not as an empty password', async () => {
    const blank = await startGateway(functionsEnv(sim, { CRON_SECRET: '   ' }));
    try {
      for (const headers of [{}, { authorization: 'Bearer ' }, { 'x-cron-secret': '   ' }] as Array<Record<string, string>>) {
        const a = await request(`${blank.url}/scheduler-tick`, { method: 'POST', headers });
        expect(a.status).toBe(500);
        expect(a.json).toEqual({ error: 'server_misconfigured' });
      }
      expect(blank.events('config_error').some((e) => String(e.message).includes('CRON_SECRET'))).toBe(true);
    } finally {
      await blank.stop();
    }
  });
});

describe('secrets stay secret', () => {
  it('never shows a secret (right or wrong) in a response or in a log line', async () => {
    // One more round of traffic of every kind, then look at everything captured in this file.
    await tick({ headers: bearer(SECRET) });
    await tick({ headers: bearer(`${SECRET}x`) });
    presented.add(`${SECRET}x`);
    expect(answers.length).toBeGreaterThan(20);
    expect(gw.logs.length).toBeGreaterThan(0);
    const secrets = [...presented, sim.authToken];
    for (const a of answers) {
      for (const s of secrets) expect(a.text).not.toContain(s);
      for (const [, v] of a.headers) for (const s of secrets) expect(v).not.toContain(s);
    }
    for (const line of gw.logs) {
      for (const s of secrets) expect(line).not.toContain(s);
      // Half a secret is still a leak.
      for (const s of [SECRET, PREVIOUS]) expect(line).not.toContain(s.slice(0, 16));
    }
  });
});
