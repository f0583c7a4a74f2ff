// Hostile input on every entry point: the HTTP functions (scheduler-tick, call-status,
// scheduler-admin, scheduler-metrics) served by the real Deno gateway, the Vercel tick route (the
// local Vercel server, and createTickRoute in-process), and the database itself (what Studio or a
// careless import would write). Wrong, missing and near-miss secrets and signatures; malformed,
// oversized, mistyped and oddly encoded bodies; injection strings; impossible settings.
//
// Every case must end in a clear 4xx (or a recorded, named error for SQL), never a 500 and never a
// stack trace, and must change no row it should not: every table in public is snapshotted before
// and compared after.

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTickRoute } from '../../api/_lib/tick-route.ts';
import { startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { startVercelLocal, type VercelLocal } from '../../scripts/stack/vercel-local.ts';
import { computeTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import {
  functionsEnv,
  type Gateway,
  looksLikeStackTrace,
  randomSecret,
  signedCallback,
  startGateway,
} from '../support/functions.ts';
import { snapshotTables } from '../support/rows.ts';

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let vercel: VercelLocal;
let env: Record<string, string | undefined>;
const ROUTE_SECRET = randomSecret('vercel-route');
const METRICS_TOKEN = randomSecret('metrics');

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startTwilioSimulator({ seed: 3, callbacks: false });
  env = functionsEnv(sim, { METRICS_TOKEN });
  gw = await startGateway(env);
  vercel = await startVercelLocal({
    env: {
      CRON_SECRET: ROUTE_SECRET,
      CRON_SECRET_PREVIOUS: undefined,
      SCHEDULER_TICK_URL: `${gw.url}/scheduler-tick`,
      ALLOW_INSECURE_URLS: '1',
      SCHEDULER_TICK_SECRET: env.CRON_SECRET,
      SUPABASE_FUNCTIONS_URL: gw.url,
      DATABASE_URL: undefined,
    },
  });
}, 120_000);

afterAll(async () => {
  await vercel?.close();
  await gw?.stop();
  await sim?.close();
  await db?.end();
});

/** One call, dialled and accepted (provider call id CA…01), so callbacks have something to hit. */
let knownCallId: string;
const KNOWN_SID = 'CA00000000000000000000000000000001';
beforeEach(async () => {
  await resetData(db);
  const campaign = await createCampaign(db, { name: 'target', cap: 2 });
  await addContacts(db, campaign, 2);
  await db.query('select * from public.launch_due_calls(now())');
  const { rows } = await db.query<{ call_id: string }>(
    'select call_id::text from public.claim_queued_calls(1, null, now()) where release_reason is null',
  );
  knownCallId = rows[0]!.call_id;
  await db.query(`select public.record_dispatch_result($1, 'accepted', $2)`, [knownCallId, KNOWN_SID]);
});

interface Answer {
  status: number;
  text: string;
  contentType: string;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** A body streamed in chunks, without a Content-Length: the limit must hold without it. */
function streamed(bytes: number): RequestInit {
  const chunk = new TextEncoder().encode('x'.repeat(1024));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { body, duplex: 'half' } as RequestInit;
}

const INVALID_UTF8 = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]);
const UTF16_BOM_JSON = new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]);

/**
 * Sends every case, expecting its status, no stack trace, a JSON body for JSON endpoints, and no
 * change to any table (but the failed-authentication counts). Returns the answers for further checks.
 */
async function expectRefused(
  cases: Array<{ name: string; url: string; init?: RequestInit; status: number | number[] }>,
  opts: { json?: boolean } = {},
): Promise<Answer[]> {
  const before = await snapshotTables(db);
  const answers: Answer[] = [];
  for (const c of cases) {
    const a = await send(c.url, c.init);
    answers.push(a);
    const expected = Array.isArray(c.status) ? c.status : [c.status];
    expect(expected, `${c.name}: HTTP ${a.status} ${a.text.slice(0, 200)}`).toContain(a.status);
    expect(looksLikeStackTrace(a.text), `${c.name}: a stack trace in ${a.text.slice(0, 300)}`).toBe(false);
    if (opts.json && a.status !== 401 && a.status !== 204) {
      expect(a.contentType, `${c.name}: content type`).toMatch(/^application\/json/);
      expect(() => JSON.parse(a.text), `${c.name}: JSON body`).not.toThrow();
    }
  }
  const after = await snapshotTables(db);
  // Refused credentials are counted per source in auth_failures by design (the brute-force limit,
  // test/security/public-defaults.test.ts); nothing else may change.
  for (const table of Object.keys(before).filter((t) => t !== 'public.auth_failures')) {
    expect(after[table], `${table} changed`).toBe(before[table]);
  }
  return answers;
}

// ------------------------------------------------------------------------------------------------

describe('scheduler-tick', () => {
  const url = () => `${gw.url}/scheduler-tick`;
  const auth = () => ({ authorization: `Bearer ${env.CRON_SECRET}` });
  const json = () => ({ ...auth(), 'content-type': 'application/json' });

  it('refuses missing, wrong and near-miss secrets with 401 and does nothing', async () => {
    const s = env.CRON_SECRET!;
    const bad: Record<string, string>[] = [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: `Bearer ${s}x` },
      { authorization: `Bearer ${s.slice(0, -1)}` },
      { authorization: `Bearer ${s.toUpperCase()}` },
      { authorization: `Bearer ${s.slice(0, -1)}${s.at(-1) === 'a' ? 'b' : 'a'}` },
      { authorization: `Basic ${s}` },
      { authorization: `Bearer ${s} ${s}` },
      { authorization: `Bearer x${s}` },
      { authorization: `Bearer ${'A'.repeat(5000)}` },
      { authorization: `Bearer ${ROUTE_SECRET}` }, // another component's secret
      { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      { 'x-cron-secret': `${s} ` + 'x' },
      { 'x-cron-secret': s.slice(1) },
      { 'x-cron-secret': '' },
      { cookie: `cron_secret=${s}` },
    ];
    await expectRefused([
      ...bad.map((headers, i) => ({ name: `headers #${i}`, url: url(), init: { method: 'POST', headers }, status: 401 })),
      { name: 'secret in the query string', url: `${url()}?secret=${s}&x-cron-secret=${s}`, status: 401 },
      // the body is never read before the secret is checked
      { name: 'oversized body, no secret', url: url(), init: { method: 'POST', body: 'x'.repeat(100_000) }, status: 401 },
    ]);
  });

  it('refuses malformed, oversized, mistyped and oddly encoded requests with 4xx and does nothing', async () => {
    await expectRefused(
      [
        { name: 'PUT', url: url(), init: { method: 'PUT', headers: auth() }, status: 405 },
        { name: 'DELETE', url: url(), init: { method: 'DELETE', headers: auth() }, status: 405 },
        {
          name: 'oversized',
          url: url(),
          init: { method: 'POST', headers: json(), body: `{"trigger":"local","x":"${'y'.repeat(5000)}"}` },
          status: 413,
        },
        {
          name: 'oversized, streamed',
          url: url(),
          init: { method: 'POST', headers: json(), ...streamed(64 * 1024) },
          status: 413,
        },
        {
          name: 'text/plain',
          url: url(),
          init: { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: '{}' },
          status: 415,
        },
        {
          name: 'form',
          url: url(),
          init: {
            method: 'POST',
            headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
            body: 'trigger=local',
          },
          status: 415,
        },
        { name: 'not JSON', url: url(), init: { method: 'POST', headers: json(), body: '{"trigger":' }, status: 400 },
        { name: 'a JSON array', url: url(), init: { method: 'POST', headers: json(), body: '[1,2]' }, status: 400 },
        { name: 'a JSON string', url: url(), init: { method: 'POST', headers: json(), body: '"local"' }, status: 400 },
        { name: 'null', url: url(), init: { method: 'POST', headers: json(), body: 'null' }, status: 400 },
        {
          name: 'unknown key',
          url: url(),
          init: { method: 'POST', headers: json(), body: '{"trigger":"local","drop":"table"}' },
          status: 400,
        },
        {
          name: '__proto__',
          url: url(),
          init: { method: 'POST', headers: json(), body: '{"__proto__":{"trigger":"vercel"}}' },
          status: 400,
        },
        {
          name: 'manual trigger',
          url: url(),
          init: { method: 'POST', headers: json(), body: '{"trigger":"manual"}' },
          status: 400,
        },
        {
          name: 'injection trigger',
          url: url(),
          init: { method: 'POST', headers: json(), body: `{"trigger":"local'); drop table public.calls; --"}` },
          status: 400,
        },
        {
          name: 'bad scheduled_for',
          url: url(),
          init: { method: 'POST', headers: json(), body: '{"trigger":"vercel","scheduled_for":"yesterday"}' },
          status: 400,
        },
        {
          name: 'scheduled_for without offset',
          url: url(),
          init: { method: 'POST', headers: json(), body: '{"trigger":"vercel","scheduled_for":"2026-12-02T12:00:00"}' },
          status: 400,
        },
        { name: 'invalid UTF-8', url: url(), init: { method: 'POST', headers: json(), body: INVALID_UTF8 }, status: 400 },
        { name: 'UTF-16 with BOM', url: url(), init: { method: 'POST', headers: json(), body: UTF16_BOM_JSON }, status: 400 },
        {
          name: 'percent garbage in the query',
          url: `${url()}?trigger=%ZZ%E0%A4%A&scheduled_for=%00`,
          init: { headers: auth() },
          status: 400,
        },
        { name: 'NUL in the query', url: `${url()}?trigger=local%00`, init: { headers: auth() }, status: 400 },
      ],
      { json: true },
    );
  });
});

describe('the Vercel tick route', () => {
  it('through the local Vercel server: wrong secrets 401, oversized 413, hidden files 404; nothing reaches the function', async () => {
    const url = `${vercel.url}/api/scheduler/tick`;
    const ticksBefore = gw.events('tick_start').length;
    await expectRefused([
      { name: 'no secret', url, status: 401 },
      {
        name: 'the function secret instead of the route secret',
        url,
        init: { headers: { authorization: `Bearer ${env.CRON_SECRET}` } },
        status: 401,
      },
      { name: 'near miss', url, init: { headers: { authorization: `Bearer ${ROUTE_SECRET.slice(0, -1)}` } }, status: 401 },
      { name: 'near miss, x-cron-secret', url, init: { headers: { 'x-cron-secret': `${ROUTE_SECRET}!` } }, status: 401 },
      { name: 'PUT', url, init: { method: 'PUT', headers: { authorization: `Bearer ${ROUTE_SECRET}` } }, status: 405 },
      { name: 'oversized', url, init: { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }, status: 413 },
      { name: 'the route module itself', url: `${vercel.url}/api/_lib/tick-route`, status: 404 },
      { name: 'path traversal', url: `${vercel.url}/api/..%2f_lib%2ftick-route`, status: 404 },
      { name: 'dot files', url: `${vercel.url}/.env`, status: 404 },
      { name: 'percent garbage path', url: `${vercel.url}/%E0%A4%A`, status: [400, 404] },
    ]);
    expect(gw.events('tick_start').length).toBe(ticksBefore);
  });

  it('createTickRoute: a refused request is never forwarded; a forward failure is a clear 502/504, not a crash', async () => {
    const forwarded: string[] = [];
    const route = createTickRoute({
      env: {
        CRON_SECRET: ROUTE_SECRET,
        SCHEDULER_TICK_URL: 'http://127.0.0.1:9/functions/v1/scheduler-tick',
        ALLOW_INSECURE_URLS: '1',
        SCHEDULER_TICK_SECRET: 'function-secret-0123456789abcdefghijklmnop',
      },
      fetch: async (input) => {
        forwarded.push(String(input));
        throw new TypeError('fetch failed');
      },
      log: { log() {}, info() {}, warn() {}, error() {} },
    });
    const call = (headers: Record<string, string>, method = 'GET') =>
      route(new Request('http://vercel.local/api/scheduler/tick', { method, headers }));
    const refused: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${ROUTE_SECRET}x` },
      { authorization: 'bearer' },
      { 'x-cron-secret': '' },
    ];
    for (const headers of refused) {
      expect((await call(headers)).status).toBe(401);
    }
    expect((await call({ authorization: `Bearer ${ROUTE_SECRET}` }, 'DELETE')).status).toBe(405);
    expect(forwarded).toEqual([]);
    const failed = await call({ authorization: `Bearer ${ROUTE_SECRET}` });
    expect(failed.status).toBe(502);
    const body = await failed.text();
    expect(looksLikeStackTrace(body)).toBe(false);
    expect(body).not.toContain('function-secret');
    expect(forwarded).toHaveLength(1);

    // Misconfigured (short secrets): every request is a 500 server_misconfigured, never an open door.
    const closed = createTickRoute({
      env: {
        CRON_SECRET: 'short',
        SCHEDULER_TICK_URL: 'http://127.0.0.1:9',
        ALLOW_INSECURE_URLS: '1',
        SCHEDULER_TICK_SECRET: 'short',
      },
      log: { log() {}, info() {}, warn() {}, error() {} },
    });
    const r = await closed(new Request('http://vercel.local/api/scheduler/tick', { headers: { authorization: 'Bearer short' } }));
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'server_misconfigured' });
  });
});

describe('call-status', () => {
  const form = (sid = KNOWN_SID, status = 'ringing') => ({ AccountSid: sim.accountSid, CallSid: sid, CallStatus: status });
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

  it('refuses unsigned, forged and near-miss signatures with 403 and changes nothing', async () => {
    const good = await signedCallback(sim.authToken, gw.url, knownCallId, form());
    const params = new URLSearchParams(good.body);
    const sig = good.headers['x-twilio-signature']!;
    const flip = sig.slice(0, 5) + (sig[5] === 'A' ? 'B' : 'A') + sig.slice(6);
    const otherCall = await computeTwilioSignature(sim.authToken, `${gw.url}/call-status?call_id=999`, params);
    const otherHost = await computeTwilioSignature(sim.authToken, good.url.replace('127.0.0.1', 'localhost'), params);
    const wrongToken = await computeTwilioSignature(`${sim.authToken}x`, good.url, params);
    const withoutQuery = await computeTwilioSignature(sim.authToken, `${gw.url}/call-status`, params);
    const post = (headers: Record<string, string>, body = good.body, url = good.url) => ({
      url,
      init: { method: 'POST', headers: { ...formHeaders, ...headers }, body },
    });
    await expectRefused(
      [
        { name: 'no signature', ...post({}), status: 403 },
        { name: 'empty signature', ...post({ 'x-twilio-signature': '' }), status: 403 },
        { name: 'one character changed', ...post({ 'x-twilio-signature': flip }), status: 403 },
        { name: 'signed for another call id', ...post({ 'x-twilio-signature': otherCall }), status: 403 },
        { name: 'signed for another host', ...post({ 'x-twilio-signature': otherHost }), status: 403 },
        { name: 'signed with another token', ...post({ 'x-twilio-signature': wrongToken }), status: 403 },
        { name: 'signed without the query string', ...post({ 'x-twilio-signature': withoutQuery }), status: 403 },
        {
          name: 'a parameter added after signing',
          ...post({ 'x-twilio-signature': sig }, `${good.body}&CallDuration=999`),
          status: 403,
        },
        {
          name: 'the status changed after signing',
          ...post({ 'x-twilio-signature': sig }, good.body.replace('ringing', 'completed')),
          status: 403,
        },
        {
          name: 'the call id changed after signing',
          ...post({ 'x-twilio-signature': sig }, good.body, good.url.replace(/call_id=\d+/, 'call_id=2')),
          status: 403,
        },
        { name: 'a huge signature', ...post({ 'x-twilio-signature': 'A'.repeat(10_000) }), status: 403 },
        { name: 'the cron secret as a signature', ...post({ 'x-twilio-signature': env.CRON_SECRET! }), status: 403 },
      ],
      { json: true },
    );
  });

  it('refuses malformed, oversized, mistyped and oddly encoded callbacks with 4xx and changes nothing', async () => {
    const url = `${gw.url}/call-status?call_id=${knownCallId}`;
    const signedFor = async (callId: string, params: Record<string, string>) => {
      const cb = await signedCallback(sim.authToken, gw.url, callId, params);
      return { url: cb.url, init: { method: 'POST', headers: cb.headers, body: cb.body } };
    };
    // Percent-encoding garbage, signed over what a form parser makes of it.
    const garbage = 'CallSid=%ZZ%E0%A4%A&CallStatus=completed%00';
    const garbageSig = await computeTwilioSignature(sim.authToken, url, new URLSearchParams(garbage));
    await expectRefused(
      [
        { name: 'GET', url, status: 405 },
        { name: 'PUT', url, init: { method: 'PUT', headers: formHeaders, body: 'a=b' }, status: 405 },
        { name: 'no content type', url, init: { method: 'POST', body: new Uint8Array([1, 2, 3]) }, status: 415 },
        {
          name: 'JSON',
          url,
          init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"CallSid":"CA1"}' },
          status: 415,
        },
        {
          name: 'multipart',
          url,
          init: { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' },
          status: 415,
        },
        {
          name: 'oversized',
          url,
          init: { method: 'POST', headers: formHeaders, body: `CallSid=${'A'.repeat(70_000)}` },
          status: 413,
        },
        {
          name: 'oversized, streamed',
          url,
          init: { method: 'POST', headers: formHeaders, ...streamed(200 * 1024) },
          status: 413,
        },
        { name: 'invalid UTF-8', url, init: { method: 'POST', headers: formHeaders, body: INVALID_UTF8 }, status: 400 },
        { name: 'UTF-16 with BOM', url, init: { method: 'POST', headers: formHeaders, body: UTF16_BOM_JSON }, status: 400 },
        {
          name: 'percent garbage, validly signed',
          url,
          init: { method: 'POST', headers: { ...formHeaders, 'x-twilio-signature': garbageSig }, body: garbage },
          status: 400,
        },
        { name: 'call_id abc', ...(await signedFor('abc', form())), status: 400 },
        { name: 'call_id -1', ...(await signedFor('-1', form())), status: 400 },
        { name: 'call_id 0', ...(await signedFor('0', form())), status: 400 },
        { name: 'call_id 1e3', ...(await signedFor('1e3', form())), status: 400 },
        { name: 'call_id too big for bigint', ...(await signedFor('99999999999999999999', form())), status: 400 },
        { name: 'call_id injection', ...(await signedFor('1; drop table public.calls', form())), status: 400 },
        { name: 'unknown CallStatus', ...(await signedFor(knownCallId, form(KNOWN_SID, 'exploded'))), status: 400 },
        {
          name: 'CallStatus queued-ish injection',
          ...(await signedFor(knownCallId, form(KNOWN_SID, "completed'; --"))),
          status: 400,
        },
        { name: 'no CallSid', ...(await signedFor(knownCallId, { CallStatus: 'completed' })), status: 400 },
        {
          name: 'CallSid injection',
          ...(await signedFor(knownCallId, form("CA1'); delete from public.calls; --", 'completed'))),
          status: 400,
        },
        { name: 'CallSid too long', ...(await signedFor(knownCallId, form(`CA${'0'.repeat(100)}`, 'completed'))), status: 400 },
      ],
      { json: true },
    );
  });

  it('answers unknown calls and mismatched call ids with 200 and a recorded warning, and changes nothing', async () => {
    const before = await snapshotTables(db);
    const unknown = await signedCallback(
      sim.authToken,
      gw.url,
      '987654321',
      form('CA00000000000000000000000000000999', 'completed'),
    );
    const mismatch = await signedCallback(
      sim.authToken,
      gw.url,
      knownCallId,
      form('CA00000000000000000000000000000777', 'completed'),
    );
    const bySidOnly = await signedCallback(sim.authToken, gw.url, null, form('CA00000000000000000000000000000555', 'completed'));
    const answers: string[] = [];
    for (const cb of [unknown, mismatch, bySidOnly]) {
      const a = await send(cb.url, { method: 'POST', headers: cb.headers, body: cb.body });
      expect(a.status).toBe(200);
      answers.push((JSON.parse(a.text) as { result: string }).result);
    }
    expect(answers).toEqual(['not_found', 'mismatch', 'not_found']);
    const after = await snapshotTables(db);
    expect(after).toEqual(before);
    expect(gw.events('callback_unmatched').map((e) => e.result)).toEqual(expect.arrayContaining(['not_found', 'mismatch']));

    // The control: the right signature on the right call is applied (and only to that call).
    const ok = await signedCallback(sim.authToken, gw.url, knownCallId, form(KNOWN_SID, 'ringing'));
    const a = await send(ok.url, { method: 'POST', headers: ok.headers, body: ok.body });
    expect(JSON.parse(a.text)).toEqual({ result: 'applied' });
    const { rows } = await db.query<{ id: string; status: string }>(
      `select id::text, status::text from public.calls order by id`,
    );
    expect(rows.find((r) => r.id === knownCallId)?.status).toBe('ringing');
    expect(rows.filter((r) => r.id !== knownCallId).map((r) => r.status)).toEqual(['queued']);
  });
});

describe('scheduler-admin', () => {
  const url = (p: string) => `${gw.url}/scheduler-admin${p}`;
  const auth = () => ({ authorization: `Bearer ${env.ADMIN_TOKEN}` });

  it('refuses missing, wrong and near-miss tokens with 401 on status and trigger, and runs no tick', async () => {
    const t = env.ADMIN_TOKEN!;
    const bad: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${t}x` },
      { authorization: `Bearer ${t.slice(0, -1)}` },
      { authorization: `Bearer ${t} extra` },
      { authorization: `Token ${t}` },
      { authorization: `Bearer ${env.CRON_SECRET}` }, // the cron secret is not an admin token
      { 'x-cron-secret': t },
      { 'x-admin-token': t },
    ];
    await expectRefused(
      bad.flatMap((headers, i) => [
        { name: `status #${i}`, url: url('/status'), init: { headers }, status: 401 },
        { name: `trigger #${i}`, url: url('/trigger'), init: { method: 'POST', headers }, status: 401 },
      ]),
      { json: true },
    );
  });

  it('refuses odd requests from an authenticated operator with 4xx and runs no tick', async () => {
    await expectRefused(
      [
        {
          name: 'oversized trigger body',
          url: url('/trigger'),
          init: { method: 'POST', headers: auth(), body: 'x'.repeat(2048) },
          status: 413,
        },
        {
          name: 'streamed trigger body',
          url: url('/trigger'),
          init: { method: 'POST', headers: auth(), ...streamed(64 * 1024) },
          status: 413,
        },
        {
          name: 'invalid UTF-8 trigger body',
          url: url('/trigger'),
          init: { method: 'POST', headers: auth(), body: INVALID_UTF8 },
          status: 400,
        },
        { name: 'unknown route', url: url('/drop'), init: { headers: auth() }, status: 404 },
        { name: 'DELETE trigger', url: url('/trigger'), init: { method: 'DELETE', headers: auth() }, status: 404 },
        { name: 'GET trigger', url: url('/trigger'), init: { headers: auth() }, status: 404 },
        { name: 'percent garbage', url: url('/%E0%A4%A'), init: { headers: auth() }, status: 404 },
        { name: 'preflight', url: url('/trigger'), init: { method: 'OPTIONS' }, status: 204 },
      ],
      { json: true },
    );
  });
});

describe('scheduler-metrics', () => {
  it('refuses missing and wrong tokens with 401, other methods with 405', async () => {
    const url = `${gw.url}/scheduler-metrics`;
    await expectRefused(
      [
        { name: 'no token', url, status: 401 },
        { name: 'wrong token', url, init: { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } }, status: 401 },
        { name: 'admin token', url, init: { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } }, status: 401 },
        {
          name: 'POST',
          url,
          init: { method: 'POST', headers: { authorization: `Bearer ${METRICS_TOKEN}` }, body: 'x' },
          status: 405,
        },
        { name: 'unknown function', url: `${gw.url}/scheduler-metricz`, status: 404 },
      ],
      { json: true },
    );
    const ok = await send(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
  });
});

// ------------------------------------------------------------------------------------------------

interface PgError {
  code?: string;
  constraint?: string;
  message: string;
}

async function sqlError(text: string, params: unknown[] = []): Promise<PgError> {
  try {
    await db.query(text, params);
  } catch (err) {
    return err as PgError;
  }
  throw new Error(`expected an error from: ${text} ${JSON.stringify(params)}`);
}

describe('hostile data written straight into the database', () => {
  it('stores names with quotes, semicolons and control characters verbatim and harmlessly', async () => {
    const names = [
      "Robert'); drop table public.calls; --",
      '"; select pg_sleep(10); --',
      '$$; drop schema public cascade; $$',
      '<script>alert(1)</script>',
      '\u202Eevil\u202C 🎉 名前 \\x00',
      'Campaign {{trigger}} ${process.env.CRON_SECRET} %s %n',
    ];
    const ids: string[] = [];
    for (const name of names) {
      const id = await createCampaign(db, { name, cap: 1 });
      ids.push(id);
      await addContacts(db, id, 1);
    }
    const { rows } = await db.query<{ name: string }>(
      'select name from public.campaigns where id = any($1::bigint[]) order by id',
      [ids],
    );
    expect(rows.map((r) => r.name)).toEqual(names);
    // The scheduler serves them like any other, and every table is still there.
    const { rows: launched } = await db.query<{ campaign_id: string; reserved: number }>(
      'select campaign_id::text, reserved from public.launch_due_calls(now()) where campaign_id = any($1::bigint[])',
      [ids],
    );
    expect(launched.map((r) => r.reserved)).toEqual(names.map(() => 1));
    const { rows: tables } = await db.query(`select count(*)::int as n from pg_tables where schemaname = 'public'`);
    expect(tables[0]!.n).toBeGreaterThanOrEqual(7);
    // The dashboard API returns them verbatim as JSON data; the metrics never carry names.
    const status = await send(`${gw.url}/scheduler-admin/status`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(status.status).toBe(200);
    const body = JSON.parse(status.text) as { campaigns: Array<{ name: string }> };
    expect(body.campaigns.map((c) => c.name)).toEqual(expect.arrayContaining(names));
    const metrics = await send(`${gw.url}/scheduler-metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.status).toBe(200);
    for (const name of names) expect(metrics.text).not.toContain(name);
    for (const line of metrics.text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+]+)$/);
    }
  });

  it('refuses impossible phone numbers, zones, caps and settings with the named CHECK constraint, and keeps every row', async () => {
    const before = await snapshotTables(db);
    const campaign = Number((await db.query<{ id: string }>('select id::text from public.campaigns limit 1')).rows[0]!.id);
    const insertContact = (phone: string, zone: string | null = null) =>
      sqlError('insert into public.contacts (campaign_id, phone, time_zone) values ($1, $2, $3)', [campaign, phone, zone]);

    for (
      const phone of [
        "+1555'; drop table public.contacts; --",
        '15551234567',
        '+0155512345',
        '+1 555 123 4567',
        '+1555123456789012',
        '+１５５５１２３４５６７',
        '+15551234567\n',
        '',
        '+',
        '+123456',
      ]
    ) {
      const e = await insertContact(phone);
      expect(e, JSON.stringify(phone)).toMatchObject({ code: '23514', constraint: 'contacts_phone_is_e164' });
      expect(e.message).toContain('contacts_phone_is_e164');
    }
    expect(await sqlError('insert into public.do_not_call_numbers (phone) values ($1)', ["0'; --"])).toMatchObject({
      code: '23514',
      constraint: 'do_not_call_numbers_phone_is_e164',
    });

    for (
      const zone of [
        'Mars/Olympus',
        'UTC+5',
        'GMT-3',
        "America/New_York'; drop",
        '../../etc/passwd',
        'America/New_York ',
        '',
        ' ',
      ]
    ) {
      expect(await insertContact('+15557654321', zone), JSON.stringify(zone)).toMatchObject({
        code: '23514',
        constraint: 'contacts_time_zone_is_valid',
      });
    }

    const insertCampaignWith = (column: string, value: unknown) => {
      const row: Record<string, unknown> = {
        name: 'bad',
        caller_id: '+15559990000',
        provider_settings: '{"twiml":"<Response/>"}',
        [column]: value,
      };
      const columns = Object.keys(row);
      return sqlError(
        `insert into public.campaigns (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(row),
      );
    };
    const refusals: Array<[string, unknown, string]> = [
      ['max_concurrent_calls', 0, 'campaigns_cap_is_positive'],
      ['max_concurrent_calls', -5, 'campaigns_cap_is_positive'],
      ['max_attempts', 0, 'campaigns_max_attempts_is_positive'],
      ['max_attempts', 101, 'campaigns_max_attempts_is_positive'],
      ['time_zone', 'Europe/Atlantis', 'campaigns_time_zone_is_valid'],
      ['time_zone', 'UTC+5', 'campaigns_time_zone_is_valid'],
      ['caller_id', '+1 555', 'campaigns_caller_id_is_e164'],
      ['name', '   ', 'campaigns_name_is_not_blank'],
      ['name', 'x'.repeat(201), 'campaigns_name_is_not_blank'],
      ['window_days', [0, 8], 'campaigns_window_days_are_iso_weekdays'],
      ['window_days', [], 'campaigns_window_days_are_iso_weekdays'],
      ['retry_busy_delay', '-1 hour', 'campaigns_retry_busy_delay_is_sane'],
      ['retry_failed_delay', '31 days', 'campaigns_retry_failed_delay_is_sane'],
      ['provider', "twilio'; --", 'campaigns_provider_is_known'],
      ['provider_settings', '[]', 'campaigns_provider_settings_is_object'],
    ];
    for (const [column, value, constraint] of refusals) {
      expect(await insertCampaignWith(column, value), `${column} = ${JSON.stringify(value)}`).toMatchObject({
        code: '23514',
        constraint,
      });
    }
    expect(
      await sqlError(`insert into public.campaigns (name, window_start, window_end) values ('bad', '09:00', '09:00')`),
    ).toMatchObject({ code: '23514', constraint: 'campaigns_window_is_not_empty' });
    expect(await sqlError('update public.campaigns set max_concurrent_calls = -1')).toMatchObject({
      code: '23514',
      constraint: 'campaigns_cap_is_positive',
    });
    expect(await sqlError(`insert into public.campaigns (name) values ($1)`, ['nul \u0000 byte'])).toMatchObject({
      code: '22021',
    });

    const settings: Array<[string, unknown, string]> = [
      ['global_max_concurrent_calls', 0, 'scheduler_settings_global_cap_is_positive'],
      ['global_max_concurrent_calls', -1, 'scheduler_settings_global_cap_is_positive'],
      ['provider_calls_per_second', 0, 'scheduler_settings_cps_is_sane'],
      ['dispatch_concurrency', 0, 'scheduler_settings_concurrency_is_sane'],
      ['tick_budget_ms', 10, 'scheduler_settings_budget_is_sane'],
      ['queued_call_ttl', '0 seconds', 'scheduler_settings_queued_ttl_is_sane'],
      ['breaker_failure_threshold', 0, 'scheduler_settings_breaker_threshold_is_positive'],
    ];
    for (const [column, value, constraint] of settings) {
      expect(await sqlError(`update public.scheduler_settings set ${column} = $1`, [value]), column).toMatchObject({
        code: '23514',
        constraint,
      });
    }
    expect(await sqlError('insert into public.scheduler_settings (id) values (false)')).toMatchObject({
      constraint: 'scheduler_settings_single_row',
    });

    expect(await snapshotTables(db)).toEqual(before);
  });

  it('refuses nonsense arguments to the SQL entry points with a clear error and changes nothing', async () => {
    const before = await snapshotTables(db);
    const cases: Array<[string, unknown[], RegExp]> = [
      ['select * from public.launch_due_calls(now(), 0)', [], /p_max_campaigns must be at least 1/],
      ['select * from public.claim_queued_calls(0, null, now())', [], /p_limit must be at least 1/],
      ["select public.record_dispatch_result($1, 'drop table')", [knownCallId], /unknown dispatch outcome/],
      ["select public.record_dispatch_result(987654321, 'accepted', 'CA1')", [], /does not exist/],
      ["select public.record_dispatch_result($1, 'accepted')", [knownCallId], /needs a provider call id/],
      ["select public.apply_call_status($1, 'twilio', null, 'queued')", [knownCallId], /cannot set status queued/],
      ["select public.apply_call_status($1, 'twilio', null, 'unknown')", [knownCallId], /cannot set status unknown/],
      ["select public.finish_scheduler_run(987654321, 'ok')", [], /does not exist/],
      ["select public.finish_scheduler_run(1, 'running')", [], /cannot finish with status running/],
      ['select public.ensure_http_tick_cron_job($1)', ["http://x/'); select 1; --"], /must be an http\(s\) URL/],
      [
        "select public.ensure_http_tick_cron_job('http://127.0.0.1/f', $1)",
        ["x'; drop table public.calls; --"],
        /plain Vault secret name/,
      ],
    ];
    for (const [text, params, message] of cases) {
      const e = await sqlError(text, params);
      expect(e.message, text).toMatch(message);
      expect(e.code, text).toMatch(/^(22023|P0002|22P02|P0001)$/);
    }
    expect(await snapshotTables(db)).toEqual(before);
  });
});
