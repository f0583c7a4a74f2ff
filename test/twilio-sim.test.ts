// The Twilio simulator (scripts/twilio-sim/server.ts) speaks Twilio's protocol: these tests talk to it
// with plain HTTP, the way any Twilio client would, and check its validation, answers, faults,
// control API, determinism and CLI. No database.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SimOptions, startTwilioSimulator, type TwilioSimulator } from '../scripts/twilio-sim/server.ts';
import {
  createRng,
  DEFAULT_TIMING,
  maxRequestsInWindow,
  planTimeline,
  rfc2822,
  signTwilioRequest,
} from '../scripts/twilio-sim/core.ts';
import { type CallbackReceiver, startCallbackReceiver } from './support/net.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function basic(sid: string, token: string): string {
  return `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  sim: TwilioSimulator,
  init: { method?: string; path?: string; body?: string; auth?: string | null; contentType?: string },
): Promise<Answer> {
  const res = await fetch(`${sim.url}${init.path ?? `/2010-04-01/Accounts/${sim.accountSid}/Calls.json`}`, {
    method: init.method ?? 'POST',
    headers: {
      ...(init.auth === null ? {} : { authorization: init.auth ?? basic(sim.accountSid, sim.authToken) }),
      ...(init.body !== undefined ? { 'content-type': init.contentType ?? 'application/x-www-form-urlencoded' } : {}),
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const form = (o: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
};

describe('Twilio simulator: the Calls API', () => {
  let sim: TwilioSimulator;
  let rx: CallbackReceiver;
  const valid = () => ({
    To: '+15555550100',
    From: '+15005550006',
    Twiml: '<Response><Say>Hi</Say></Response>',
    StatusCallback: `${rx.url}?call_id=1`,
    StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    StatusCallbackMethod: 'POST',
  });

  beforeAll(async () => {
    sim = await startTwilioSimulator({ seed: 3, timeScale: 0.001 });
    rx = await startCallbackReceiver();
  });
  afterAll(async () => {
    await sim?.close();
    await rx?.close();
  });
  beforeEach(() => sim.reset());

  it('creates a call: 201 with a Twilio call resource', async () => {
    const a = await call(sim, { body: form(valid()) });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      sid: expect.stringMatching(/^CA[0-9a-f]{32}$/),
      account_sid: sim.accountSid,
      to: '+15555550100',
      from: '+15005550006',
      status: 'queued',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      uri: `/2010-04-01/Accounts/${sim.accountSid}/Calls/${String(a.body.sid)}.json`,
      date_created: expect.stringMatching(/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/),
    });
    expect(sim.stats()).toMatchObject({ createRequests: 1, created: 1, createdPerNumber: { '+15555550100': 1 } });
  });

  it('fetches a call; after the timeline it shows how the call ended', async () => {
    sim.setFaults({ numbers: [{ match: '*', outcome: 'completed' }] });
    const created = await call(sim, { body: form(valid()) });
    await sim.settled();
    const a = await call(sim, {
      method: 'GET',
      path: `/2010-04-01/Accounts/${sim.accountSid}/Calls/${String(created.body.sid)}.json`,
    });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ sid: created.body.sid, status: 'completed', duration: expect.stringMatching(/^[1-9]\d*$/) });
    const missing = await call(sim, {
      method: 'GET',
      path: `/2010-04-01/Accounts/${sim.accountSid}/Calls/CA${'0'.repeat(32)}.json`,
    });
    expect(missing).toMatchObject({ status: 404, body: { code: 20404, status: 404 } });
  });

  it('refuses bad credentials (401, 20003) and another account (404)', async () => {
    for (const auth of [null, basic(sim.accountSid, 'nope'), basic(`AC${'f'.repeat(32)}`, sim.authToken), 'Bearer x']) {
      const a = await call(sim, { body: form(valid()), auth });
      expect(a.status).toBe(401);
      expect(a.body).toEqual({
        code: 20003,
        message: 'Authenticate',
        more_info: 'https://www.twilio.com/docs/errors/20003',
        status: 401,
      });
    }
    const other = await call(sim, { body: form(valid()), path: `/2010-04-01/Accounts/AC${'e'.repeat(32)}/Calls.json` });
    expect(other).toMatchObject({ status: 404, body: { code: 20404 } });
    expect(sim.stats().created).toBe(0);
  });

  it.each<[string, (v: Record<string, string | string[]>) => Record<string, string | string[]>, number]>([
    ['missing To', ({ To: _, ...v }) => v, 21201],
    ['To not E.164', (v) => ({ ...v, To: '5550100' }), 21211],
    ['missing From', ({ From: _, ...v }) => v, 21213],
    ['From not E.164', (v) => ({ ...v, From: 'ACME' }), 21212],
    ['no Url, Twiml or ApplicationSid', ({ Twiml: _, ...v }) => v, 21205],
    ['both Twiml and Url', (v) => ({ ...v, Url: 'https://example.com/t' }), 21205],
    ['a relative Url', ({ Twiml: _, ...v }) => ({ ...v, Url: '/twiml' }), 21205],
    ['an unknown parameter', (v) => ({ ...v, Colour: 'blue' }), 20001],
    ['a lower-case parameter name', ({ To, ...v }) => ({ ...v, to: To! }), 20001],
    ['an invalid StatusCallbackEvent', (v) => ({ ...v, StatusCallbackEvent: ['initiated', 'answred'] }), 21626],
    ['an invalid StatusCallback', (v) => ({ ...v, StatusCallback: 'call-status' }), 21609],
    ['a StatusCallback off this machine', (v) => ({ ...v, StatusCallback: 'https://example.com/call-status' }), 21609],
    ['a bad StatusCallbackMethod', (v) => ({ ...v, StatusCallbackMethod: 'PUT' }), 21200],
    ['a bad MachineDetection', (v) => ({ ...v, MachineDetection: 'On' }), 21200],
    ['a bad Timeout', (v) => ({ ...v, Timeout: 'soon' }), 21200],
  ])('refuses %s with 400 and code %i, creating nothing', async (_what, change, code) => {
    const a = await call(sim, { body: form(change(valid())) });
    expect(a.status).toBe(400);
    expect(a.body).toMatchObject({
      code,
      status: 400,
      message: expect.any(String),
      more_info: `https://www.twilio.com/docs/errors/${code}`,
    });
    expect(sim.stats()).toMatchObject({ createRequests: 1, created: 0, rejected: { [String(code)]: 1 } });
  });

  it('refuses a body that is not form-encoded', async () => {
    const a = await call(sim, { body: JSON.stringify(valid()), contentType: 'application/json' });
    expect(a.status).toBe(400);
    expect(sim.stats().created).toBe(0);
  });

  it("refuses Twilio's test numbers like Twilio does", async () => {
    for (
      const [to, from, code] of [
        ['+15005550001', '+15005550006', 21217],
        ['+15005550002', '+15005550006', 21214],
        ['+15005550003', '+15005550006', 21215],
        ['+15005550004', '+15005550006', 21216],
        ['+15555550100', '+15005550001', 21212],
        ['+15555550100', '+15005550007', 21210],
      ] as const
    ) {
      expect((await call(sim, { body: form({ ...valid(), To: to, From: from }) })).body).toMatchObject({ code });
    }
    expect(sim.stats().created).toBe(0);
  });

  it('accepts StatusCallbackEvent space-separated too, and defaults to completed only', async () => {
    await call(sim, { body: form({ ...valid(), StatusCallbackEvent: 'ringing completed' }) });
    const { StatusCallbackEvent: _, ...noEvents } = valid();
    await call(sim, { body: form({ ...noEvents, To: '+15555550101' }) });
    const [a, b] = sim.calls();
    expect(a!.events).toEqual(['ringing', 'completed']);
    expect(b!.events).toEqual(['completed']);
  });

  it('405 for other methods, 404 for other paths', async () => {
    expect((await call(sim, { method: 'DELETE' })).status).toBe(405);
    expect((await call(sim, { method: 'GET', path: '/2010-04-01/Accounts/x/Messages.json' })).body).toMatchObject({
      code: 20404,
    });
  });
});

describe('Twilio simulator: status callbacks and faults', () => {
  let sim: TwilioSimulator;
  let rx: CallbackReceiver;
  const create = (to = '+15555550100', extra: Record<string, string> = {}) =>
    call(sim, {
      body: form({
        To: to,
        From: '+15005550006',
        Twiml: '<Response/>',
        StatusCallback: `${rx.url}?call_id=${to.slice(-4)}`,
        StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        ...extra,
      }),
    });

  beforeAll(async () => {
    sim = await startTwilioSimulator({ seed: 11, timeScale: 0.001 });
    rx = await startCallbackReceiver();
  });
  afterAll(async () => {
    await sim?.close();
    await rx?.close();
  });
  beforeEach(() => {
    sim.reset();
    rx.clear();
  });

  it('signs each callback over the callback URL and its sorted parameters (node:crypto check)', async () => {
    sim.setFaults({ numbers: [{ match: '*', outcome: 'completed' }] });
    const a = await create('+15555550100', { MachineDetection: 'Enable' });
    await sim.settled();
    expect(rx.received).toHaveLength(4);
    for (const cb of rx.received) {
      expect(cb.signature).toBe(signTwilioRequest(sim.authToken, cb.url, cb.params));
      expect(cb.params.get('CallSid')).toBe(a.body.sid);
      expect(cb.params.get('Direction')).toBe('outbound-api');
      expect(cb.params.get('ApiVersion')).toBe('2010-04-01');
      expect(cb.params.get('To')).toBe('+15555550100');
      expect(cb.params.get('From')).toBe('+15005550006');
    }
    expect(rx.received.map((c) => c.params.get('CallStatus'))).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    expect(rx.received[2]!.params.get('AnsweredBy')).toBe('human');
    expect(rx.received[3]!.params.get('CallDuration')).toMatch(/^[1-9]\d*$/);
  });

  it('sends only the events asked for', async () => {
    await create('+15555550100', { StatusCallbackEvent: 'completed' });
    await sim.settled();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]!.params.get('SequenceNumber')).toBe('0');
    expect(rx.received[0]!.params.get('CallStatus')).toMatch(/^(completed|busy|no-answer|failed)$/);
  });

  it('counts callbacks the receiver refuses as failed', async () => {
    const refusing = await startCallbackReceiver(500);
    try {
      await call(sim, {
        body: form({ To: '+15555550100', From: '+15005550006', Twiml: '<Response/>', StatusCallback: refusing.url }),
      });
      await sim.settled();
      expect(sim.stats()).toMatchObject({ callbacksSent: 1, callbacksDelivered: 0, callbacksFailed: 1 });
      expect(sim.calls()[0]!.callbacks[0]).toMatchObject({ delivery: 'failed', httpStatus: 500 });
    } finally {
      await refusing.close();
    }
  });

  it('a scripted fault sequence answers request by request', async () => {
    sim.setFaults({ script: ['429', '503', '500', 'ok'], retryAfterSeconds: 4 });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await create(`+1555555010${i}`));
    expect(answers.map((a) => a.status)).toEqual([429, 503, 500, 201, 201]);
    expect(answers[0]!.headers.get('retry-after')).toBe('4');
    expect(answers[0]!.body).toMatchObject({ code: 20429 });
    // 429 and 503 create nothing; an injected 500 creates the call (ambiguousCreates, the default).
    expect(sim.stats()).toMatchObject({ createRequests: 5, created: 3, injected: { '429': 1, '503': 1, '500': 1 } });
    sim.setFaults({ script: ['500'], ambiguousCreates: false });
    expect((await create('+15555550109')).status).toBe(500);
    expect(sim.stats().created).toBe(3);
  });

  it('an outage answers every request 503 and creates nothing', async () => {
    sim.setFaults({ outage: true });
    expect((await create()).status).toBe(503);
    expect((await call(sim, { method: 'GET', path: `/2010-04-01/Accounts/${sim.accountSid}/Calls/CA1.json` })).status).toBe(503);
    expect(sim.stats()).toMatchObject({ created: 0, injected: { outage: 2 } });
  });

  it('fault rates are probabilities: about the configured share of requests', async () => {
    sim.setFaults({ rate429: 0.3 });
    let limited = 0;
    for (let i = 0; i < 200; i++) if ((await create(`+1555555${String(2000 + i)}`)).status === 429) limited++;
    expect(limited).toBeGreaterThan(35);
    expect(limited).toBeLessThan(85);
    expect(sim.stats().created).toBe(200 - limited);
  });
});

describe('Twilio simulator: outcome mix and determinism', () => {
  async function outcomes(opts: SimOptions, n: number): Promise<string[]> {
    const sim = await startTwilioSimulator({ timeScale: 0, callbacks: false, ...opts });
    try {
      for (let i = 0; i < n; i++) {
        await call(sim, { body: form({ To: `+1555555${String(3000 + i)}`, From: '+15005550006', Twiml: '<Response/>' }) });
      }
      return sim.calls().map((c) => c.outcome);
    } finally {
      await sim.close();
    }
  }

  it('the same seed replays the same outcomes; another seed does not', async () => {
    const a = await outcomes({ seed: 99 }, 40);
    const b = await outcomes({ seed: 99 }, 40);
    const c = await outcomes({ seed: 100 }, 40);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('outcomes follow the configured mix (60/20/10/10 by default)', async () => {
    const all = await outcomes({ seed: 5 }, 500);
    const share = (o: string) => all.filter((x) => x === o).length / all.length;
    expect(share('completed')).toBeGreaterThan(0.52);
    expect(share('completed')).toBeLessThan(0.68);
    expect(share('no-answer')).toBeGreaterThan(0.13);
    expect(share('no-answer')).toBeLessThan(0.27);
    expect(share('busy')).toBeGreaterThan(0.05);
    expect(share('failed')).toBeGreaterThan(0.05);
    const onlyBusy = await outcomes({ seed: 5, outcomes: { completed: 0, 'no-answer': 0, busy: 1, failed: 0 } }, 20);
    expect(new Set(onlyBusy)).toEqual(new Set(['busy']));
  });
});

describe('Twilio simulator: control API', () => {
  let sim: TwilioSimulator;
  beforeAll(async () => {
    sim = await startTwilioSimulator({ seed: 1, timeScale: 0, callbacks: false, faults: { latencyMs: 1 } });
  });
  afterAll(async () => sim?.close());

  const control = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${sim.url}${p}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('merges faults (null removes one), replaces them with PUT, refuses invalid ones', async () => {
    expect(await control('POST', '/__sim/faults', { rate429: 0.5, numbers: [{ match: '*0000', reject: { code: 21211 } }] }))
      .toMatchObject({
        status: 200,
        body: { latencyMs: 1, rate429: 0.5, numbers: [{ match: '*0000' }] },
      });
    expect((await control('POST', '/__sim/faults', { rate429: null })).body).not.toHaveProperty('rate429');
    expect((await control('PUT', '/__sim/faults', { outage: true })).body).toEqual({ outage: true });
    for (const bad of [{ rate429: 2 }, { nonsense: 1 }, { latencyMs: [5, 1] }, { script: ['boom'] }, [1]]) {
      const a = await control('POST', '/__sim/faults', bad);
      expect(a.status, JSON.stringify(bad)).toBe(400);
    }
    expect(sim.faults()).toEqual({ outage: true });
    expect(() => sim.setFaults({ rate500: -1 })).toThrow(/rate500/);
  });

  it('reports stats and calls, and reset brings back the start state', async () => {
    await control('PUT', '/__sim/faults', {});
    await call(sim, { body: form({ To: '+15555550100', From: '+15005550006', Twiml: '<Response/>' }) });
    expect((await control('GET', '/__sim/stats')).body).toMatchObject({ createRequests: 1, created: 1 });
    const calls = await fetch(`${sim.url}/__sim/calls`).then((r) => r.json() as Promise<unknown[]>);
    expect(calls).toHaveLength(1);
    expect((await control('POST', '/__sim/reset')).body).toEqual({ ok: true });
    expect(sim.stats()).toMatchObject({ createRequests: 0, created: 0 });
    expect(sim.calls()).toEqual([]);
    expect(sim.faults()).toEqual({ latencyMs: 1 });
  });

  it('listens on loopback only', async () => {
    await expect(startTwilioSimulator({ host: '0.0.0.0' })).rejects.toThrow(/loopback/);
  });
});

describe('Twilio simulator: the create-call rate as the provider sees it', () => {
  it('maxRequestsInWindow counts the fullest half-open window [t, t + windowMs)', () => {
    expect(maxRequestsInWindow([], 1000)).toBe(0);
    expect(maxRequestsInWindow([5], 1000)).toBe(1);
    // Exactly windowMs apart: two windows, never one.
    expect(maxRequestsInWindow([0, 1000], 1000)).toBe(1);
    expect(maxRequestsInWindow([0, 999.999], 1000)).toBe(2);
    expect(maxRequestsInWindow([0, 1000, 2000, 3000], 1000)).toBe(1);
    // Unsorted input, a dense burst in the middle.
    expect(maxRequestsInWindow([2500, 0, 1200, 1900, 1300, 2199.5, 4000], 1000)).toBe(4);
    // Arrivals at the same instant all count.
    expect(maxRequestsInWindow([7, 7, 7, 1007], 1000)).toBe(3);
    // 10 per second, evenly spaced: 10 in any one-second window, 1 in any 100 ms window.
    const even = Array.from({ length: 100 }, (_, i) => i * 100);
    expect(maxRequestsInWindow(even, 1000)).toBe(10);
    expect(maxRequestsInWindow(even, 100)).toBe(1);
    expect(maxRequestsInWindow(even, 100.001)).toBe(2);
    expect(() => maxRequestsInWindow([1], 0)).toThrow(/windowMs/);
  });

  it('records the arrival of every create request (whatever its answer) and reports the fullest window', async () => {
    const sim = await startTwilioSimulator({ seed: 2, timeScale: 0, callbacks: false });
    try {
      const before = performance.timeOrigin + performance.now();
      const body = (i: number) => form({ To: `+1555555${String(4000 + i)}`, From: '+15005550006', Twiml: '<Response/>' });
      for (let i = 0; i < 3; i++) expect((await call(sim, { body: body(i) })).status).toBe(201);
      expect((await call(sim, { body: body(9), auth: basic(sim.accountSid, 'wrong') })).status).toBe(401);
      expect((await call(sim, { method: 'GET', path: `/2010-04-01/Accounts/${sim.accountSid}/Calls/CAx.json` })).status)
        .toBe(404);
      const after = performance.timeOrigin + performance.now();
      const arrivals = sim.createArrivals();
      expect(arrivals).toHaveLength(4);
      expect([...arrivals].sort((a, b) => a - b)).toEqual(arrivals);
      expect(arrivals[0]!).toBeGreaterThanOrEqual(before);
      expect(arrivals[3]!).toBeLessThanOrEqual(after);
      expect(sim.maxRequestsInWindow(60_000)).toBe(4);
      expect(sim.maxRequestsInWindow(1e-6)).toBe(1);

      const fromApi = await fetch(`${sim.url}/__sim/arrivals`).then((r) => r.json() as Promise<{ arrivals: number[] }>);
      expect(fromApi.arrivals).toEqual(arrivals);
      const rate = await fetch(`${sim.url}/__sim/rate?windowMs=60000`).then((r) => r.json());
      expect(rate).toEqual({ windowMs: 60000, maxRequests: 4, requests: 4 });
      expect((await fetch(`${sim.url}/__sim/rate?windowMs=-1`)).status).toBe(400);

      sim.reset();
      expect(sim.createArrivals()).toEqual([]);
      expect(sim.maxRequestsInWindow(1000)).toBe(0);
    } finally {
      await sim.close();
    }
  });

  it('noAnswerMs: a no-answer rings that long (scaled), never past the request Timeout', () => {
    const end = (timeoutSeconds: number, noAnswerMs?: [number, number]) => {
      const steps = planTimeline(createRng(4), {
        outcome: 'no-answer',
        timeoutSeconds,
        machineDetection: false,
        timing: { ...DEFAULT_TIMING, initiatedMs: [0, 0], ringingMs: [100, 100], ...(noAnswerMs ? { noAnswerMs } : {}) },
        timeScale: 0.1,
      });
      return steps.at(-1)!;
    };
    expect(end(60)).toMatchObject({ status: 'no-answer', atMs: (100 + 60_000) * 0.1 });
    const ranged = end(60, [20_000, 30_000]);
    expect(ranged.status).toBe('no-answer');
    expect(ranged.atMs).toBeGreaterThanOrEqual((100 + 20_000) * 0.1);
    expect(ranged.atMs).toBeLessThanOrEqual((100 + 30_000) * 0.1);
    expect(end(15, [20_000, 30_000]).atMs).toBe((100 + 15_000) * 0.1);
  });
});

describe('Twilio simulator: CLI', () => {
  it('prints its URL and credentials as one JSON line, serves, and stops on SIGTERM', async () => {
    // Node itself with tsx's loader, not the tsx binary: the binary relays signals to a second
    // process, and under load it was seen ending with 143 (its own SIGTERM) before its child's handler ran.
    const args = ['--import', 'tsx', 'scripts/twilio-sim/server.ts', '--port', '0', '--seed', '4', '--time-scale', '0.01'];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
      });
      const info = JSON.parse(line) as { event: string; url: string; accountSid: string; authToken: string };
      expect(info).toMatchObject({
        event: 'twilio_sim_listening',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        accountSid: expect.stringMatching(/^AC[0-9a-f]{32}$/),
      });
      const res = await fetch(`${info.url}/2010-04-01/Accounts/${info.accountSid}/Calls.json`, {
        method: 'POST',
        headers: { authorization: basic(info.accountSid, info.authToken), 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ To: '+15555550100', From: '+15005550006', Twiml: '<Response/>' }),
      });
      expect(res.status).toBe(201);
      const stats = (await fetch(`${info.url}/__sim/stats`).then((r) => r.json())) as { created: number };
      expect(stats.created).toBe(1);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('rfc2822', () => {
  it('writes dates as Twilio does', () => {
    expect(rfc2822(Date.parse('2010-08-16T03:45:01Z'))).toBe('Mon, 16 Aug 2010 03:45:01 +0000');
  });
});
