// The failure limit against a client that forges X-Forwarded-For. The platform's proxy appends the
// address it saw; whatever the client put in front of it is the client's own writing. A client
// that sends a new first hop with every guess must still be one source, limited after
// AUTH_FAILURE_LIMIT failures; and once it is over the limit, the per-isolate pre-filter answers
// 429 without writing to the database.
//
// The local gateway (scripts/stack/functions-serve.ts) appends the connection's address
// (127.0.0.1) as a platform's proxy does; the gateway tests below run with TRUSTED_PROXY_HOPS=2 so
// that the last hop the test writes plays the platform's proxy in front of it.

import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import {
  clientAddress,
  createAuthFailureLimiter,
  createLocalFailureCounts,
} from '../../supabase/functions/_shared/auth-limit.ts';
import type { SqlClient } from '../../supabase/functions/_shared/db.ts';
import { createLogger } from '../../supabase/functions/_shared/log.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, signedCallback, startGateway } from '../support/functions.ts';
import { request } from '../support/net.ts';

const req = (xff?: string) => new Request('http://fn/', { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
const conn = { remoteAddr: { hostname: '192.0.2.1' } };

describe('clientAddress', () => {
  it('is the hop the trusted proxies appended, whatever the client wrote before it', () => {
    for (let n = 0; n < 5; n++) expect(clientAddress(req(`10.9.0.${n}, 203.0.113.7`), conn)).toBe('203.0.113.7');
    expect(clientAddress(req('203.0.113.7'), conn)).toBe('203.0.113.7');
    expect(clientAddress(req('1.1.1.1,  203.0.113.7 '), conn, 1)).toBe('203.0.113.7');
    // Two proxies (a platform and one more of ours): the hop two from the right.
    expect(clientAddress(req('10.9.0.1, 203.0.113.7, 127.0.0.1'), conn, 2)).toBe('203.0.113.7');
    // A chain shorter than the proxies: its left-most hop (a trusted proxy wrote it).
    expect(clientAddress(req('203.0.113.7'), conn, 3)).toBe('203.0.113.7');
    // Several X-Forwarded-For headers read as one list.
    const two = new Headers();
    two.append('x-forwarded-for', '10.9.0.1');
    two.append('x-forwarded-for', '203.0.113.7');
    expect(clientAddress(new Request('http://fn/', { headers: two }), conn)).toBe('203.0.113.7');
  });

  it('without X-Forwarded-For, or with TRUSTED_PROXY_HOPS=0, is the connection address; X-Real-IP is not believed', () => {
    expect(clientAddress(req(), conn)).toBe('192.0.2.1');
    expect(clientAddress(req(' , '), conn)).toBe('192.0.2.1');
    expect(clientAddress(req('203.0.113.7'), conn, 0)).toBe('192.0.2.1');
    expect(clientAddress(new Request('http://fn/', { headers: { 'x-real-ip': '10.9.0.9' } }), conn)).toBe('192.0.2.1');
    expect(clientAddress(req())).toBe('unknown');
    expect(clientAddress(req(`x${'9'.repeat(500)}`), conn)).toHaveLength(100);
  });
});

describe('the pre-filter', () => {
  it('is bounded: the oldest source is forgotten first', () => {
    const counts = createLocalFailureCounts({ limit: 1, windowMs: 60_000, maxSources: 3 });
    for (const s of ['a', 'b', 'c', 'd', 'e']) {
      counts.count(s, 0);
      counts.count(s, 0);
    }
    expect(counts.size).toBe(3);
    expect(counts.limitedFor('a', 1)).toBe(0);
    expect(counts.limitedFor('e', 1)).toBeGreaterThan(0);
    // Past the window a source starts afresh.
    expect(counts.limitedFor('e', 60_001)).toBe(0);
  });

  it('once the database says a source is limited, refuses it without another query until Retry-After', async () => {
    let queries = 0;
    let failures = 0;
    const db: SqlClient = {
      query: async () => {
        queries += 1;
        failures += 1;
        return { rows: [{ failures, limited: failures > 5, retry_after_ms: 30_000 }], rowCount: 1 } as never;
      },
    };
    let now = Date.parse('2026-12-02T12:00:00Z');
    const limiter = createAuthFailureLimiter({
      db,
      functionName: 't',
      config: { limit: 5, windowSeconds: 60 },
      log: createLogger({ service: 't', write: () => {} }),
      now: () => new Date(now),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await limiter.refuse(req(`10.9.0.${i}, 203.0.113.7`), conn, () => new Response(null, { status: 401 }));
      statuses.push(r.status);
    }
    expect(statuses).toEqual([...Array(5).fill(401), ...Array(35).fill(429)]);
    expect(queries).toBe(6);
    // After the window (and its Retry-After) the database is asked again.
    now += 60_001;
    await limiter.refuse(req('203.0.113.7'), conn, () => new Response(null, { status: 401 }));
    expect(queries).toBe(7);
  });
});

describe('against the running functions', () => {
  let db: pg.Client;
  let sim: TwilioSimulator;
  let gw: Gateway;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    db = await connect();
    await disableCronJobs(db);
    sim = await startTwilioSimulator({ seed: 21, callbacks: false });
    env = functionsEnv(sim, { TRUSTED_PROXY_HOPS: '2' });
    gw = await startGateway(env);
  });
  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await sim?.close();
    await db?.end();
  });
  beforeEach(async () => {
    await resetData(db);
  });

  const failures = async () =>
    (await db.query<{ source: string; failures: number; limited: boolean }>(
      'select source, failures, limited_since is not null as limited from public.auth_failures order by source',
    )).rows;

  it('40 wrong tokens from one address, each with a forged first hop: 429 after the limit, one source, 21 rows written of 40', async () => {
    const statuses: number[] = [];
    for (let n = 0; n < 40; n++) {
      const r = await request(`${gw.url}/scheduler-tick`, {
        method: 'POST',
        headers: { authorization: `Bearer ${randomSecret('guess')}`, 'x-forwarded-for': `10.9.0.${n}, 203.0.113.7` },
      });
      statuses.push(r.status);
    }
    expect(statuses).toEqual([...Array(20).fill(401), ...Array(20).fill(429)]);
    // One source, the one the platform saw; the database counted up to the limit and the failure
    // that crossed it, the pre-filter answered the other 19 without a write.
    expect(await failures()).toEqual([{ source: '203.0.113.7', failures: 21, limited: true }]);
    expect(gw.events('auth_failures_limited').filter((e) => e.source === '203.0.113.7')).toHaveLength(1);

    // The right secret from the same address still passes.
    const right = await request(`${gw.url}/scheduler-tick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.CRON_SECRET}`, 'x-forwarded-for': '10.9.0.99, 203.0.113.7' },
    });
    expect(right.status).toBe(200);
  });

  it('the same forgery on admin, metrics and forged callbacks: each function limits the platform-seen address', async () => {
    for (let n = 0; n < 25; n++) {
      await request(`${gw.url}/scheduler-admin/status`, {
        headers: { authorization: `Bearer op_${n}`, 'x-forwarded-for': `10.8.0.${n}, 198.51.100.4` },
      });
    }
    const forged = await signedCallback(`${sim.authToken}x`, gw.url, '1', {
      AccountSid: sim.accountSid,
      CallSid: 'CA1',
      CallStatus: 'completed',
    });
    const callback = await request(forged.url, {
      method: 'POST',
      headers: { ...forged.headers, 'x-forwarded-for': '10.7.0.1, 198.51.100.4' },
      body: forged.body,
    });
    expect(callback.status).toBe(429);
    const rows = await failures();
    expect(rows.map((r) => r.source)).toEqual(['198.51.100.4']);
    expect(rows[0]!.limited).toBe(true);
    // admin: 21 written (20 + the one that crossed), 4 refused in memory; call-status: its own isolate asks the database once more.
    expect(rows[0]!.failures).toBe(22);
  });
});
