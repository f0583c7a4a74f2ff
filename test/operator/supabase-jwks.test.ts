// Supabase Auth sessions signed with asymmetric keys (ES256 / RS256), verified against the project's
// JWKS: a real local HTTP server publishes the public halves of key pairs made here; the key source
// (supabase/functions/_shared/jwks.ts: jose's remote JWKS set) caches them within its bounds, and scheduler-admin, served by
// the real Deno gateway with SUPABASE_JWKS_URL pointing at that server, accepts an operator's
// session and refuses the rest: 403 without a scheduler role (or a viewer writing), 401 for a
// wrong kid, a tampered or expired token, alg none, and an HS256 token made with the public key as
// its secret.

import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { jwksSeedOf, jwksUrlOf, remoteJwks, type SessionKeys } from '../../supabase/functions/_shared/jwks.ts';
import { verifySupabaseSession } from '../../supabase/functions/_shared/operator-auth.ts';
import { mintSupabaseJwt, mintSupabaseJwtWithKey } from '../../scripts/stack/operator-jwt.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, startGateway, startSim, type TwilioSimulator } from '../support/functions.ts';
import { request } from '../support/net.ts';

interface KeyPair {
  alg: 'ES256' | 'RS256';
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function ecKey(kid: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { alg: 'ES256', kid, privateKey, publicKey };
}

function rsaKey(kid: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg: 'RS256', kid, privateKey, publicKey };
}

/** The JWKS entry of a key pair, as Supabase publishes it (public parts, kid, alg, use, key_ops). */
function jwkOf(k: KeyPair): Record<string, unknown> {
  return { ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig', key_ops: ['verify'], ext: true };
}

/** A JWKS server: serves `doc` (changeable), counts requests, can fail or stall on demand. */
interface JwksServer {
  url: string;
  requests: number;
  doc: unknown;
  status: number;
  close(): Promise<void>;
}

async function startJwksServer(doc: unknown): Promise<JwksServer> {
  const state = { requests: 0, doc, status: 200 };
  const server = http.createServer((req, res) => {
    state.requests += 1;
    if (req.url !== '/auth/v1/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    const body = typeof state.doc === 'string' ? state.doc : JSON.stringify(state.doc);
    res.writeHead(state.status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    url: `${base}/auth/v1/.well-known/jwks.json`,
    base,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as JwksServer & { base: string };
}

const es = ecKey('es-key-1');
const rs = rsaKey('rs-key-1');
const jwks = { keys: [jwkOf(es), jwkOf(rs)] };
let server: JwksServer & { base?: string };

beforeAll(async () => {
  server = await startJwksServer(jwks);
});

afterAll(async () => {
  await server?.close();
});

/** Whether the JWKS yields a key for this kid and algorithm (asked as jwtVerify asks it). */
const keyFor = (keys: SessionKeys, kid: string, alg: 'ES256' | 'RS256') => keys({ alg, kid }).then(() => true, () => false);

describe('the JWKS key source (jose, within our bounds)', () => {
  beforeEach(() => {
    server.doc = jwks;
    server.status = 200;
    server.requests = 0;
    // jose's cache reads Date.now(): only the date is faked, timers and sockets stay real.
    vi.useFakeTimers({ toFake: ['Date'] });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('derives the URL from SUPABASE_URL unless SUPABASE_JWKS_URL (or JWKS_URL) names one (or off)', () => {
    expect(jwksUrlOf({ SUPABASE_URL: 'https://abc.supabase.co/' })).toBe('https://abc.supabase.co/auth/v1/.well-known/jwks.json');
    expect(jwksUrlOf({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_JWKS_URL: 'https://keys.example.org/jwks' })).toBe(
      'https://keys.example.org/jwks',
    );
    expect(jwksUrlOf({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_JWKS_URL: 'off' })).toBeNull();
    expect(jwksUrlOf({ SUPABASE_URL: 'https://abc.supabase.co', JWKS_URL: 'https://keys.example.org/jwks' })).toBe(
      'https://keys.example.org/jwks',
    );
    expect(jwksUrlOf({})).toBeNull();
  });

  it('fetches once, serves from the cache within the TTL, fetches again after it', async () => {
    let t = 1_000_000;
    vi.setSystemTime(t);
    const source = remoteJwks({ url: server.url, ttlMs: 60_000, minRefetchMs: 5_000 });
    const [a, b] = await Promise.all([keyFor(source, 'es-key-1', 'ES256'), keyFor(source, 'rs-key-1', 'RS256')]);
    expect(a).toBe(true);
    expect(b).toBe(true);
    expect(server.requests).toBe(1); // concurrent lookups share one fetch
    vi.setSystemTime(t += 59_000);
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    expect(server.requests).toBe(1);
    vi.setSystemTime(t += 2_000); // past the TTL
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    expect(server.requests).toBe(2);
  });

  it('fetches again for an unknown kid (a rotated-in key), at most once per minRefetchMs', async () => {
    let t = 2_000_000;
    vi.setSystemTime(t);
    const source = remoteJwks({ url: server.url, ttlMs: 600_000, minRefetchMs: 30_000 });
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    const rotated = ecKey('es-key-2');
    server.doc = { keys: [jwkOf(es), jwkOf(rotated)] };
    // Within minRefetchMs of the last fetch: no new fetch, however many unknown kids come.
    for (let i = 0; i < 20; i++) expect(await keyFor(source, `random-${i}`, 'ES256')).toBe(false);
    expect(await keyFor(source, 'es-key-2', 'ES256')).toBe(false);
    expect(server.requests).toBe(1);
    vi.setSystemTime(t += 30_000);
    expect(await keyFor(source, 'es-key-2', 'ES256')).toBe(true);
    expect(server.requests).toBe(2);
    // The new set replaced the old: the RSA key, no longer published, is no longer accepted.
    vi.setSystemTime(t += 30_000);
    expect(await keyFor(source, 'rs-key-1', 'RS256')).toBe(false);
    expect(server.requests).toBe(3);
  });

  it('refuses while the JWKS cannot be fetched past its TTL, tries again at most once per minRefetchMs, accepts once it is back', async () => {
    let t = 3_000_000;
    vi.setSystemTime(t);
    const errors: string[] = [];
    const source = remoteJwks({ url: server.url, ttlMs: 60_000, minRefetchMs: 10_000, onError: (m) => errors.push(m) });
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    server.status = 503;
    vi.setSystemTime(t += 61_000);
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(false);
    expect(errors.at(-1)).toMatch(/JWKS http:\/\/127\.0\.0\.1:\d+\/auth\/v1\/\.well-known\/jwks\.json: HTTP 503/);
    expect(server.requests).toBe(2);
    // Within minRefetchMs of the failure: refused without another request.
    for (let i = 0; i < 5; i++) expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(false);
    expect(server.requests).toBe(2);
    vi.setSystemTime(t += 10_000);
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(false);
    expect(server.requests).toBe(3);
    server.status = 200;
    vi.setSystemTime(t += 10_000);
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    expect(server.requests).toBe(4);
    expect(errors).toHaveLength(2);
  });

  it('is bounded: an oversized or malformed JWKS is refused', async () => {
    const errors: string[] = [];
    server.doc = JSON.stringify({ keys: [jwkOf(es)], padding: 'x'.repeat(70_000) });
    const big = remoteJwks({ url: server.url, onError: (m) => errors.push(m) });
    expect(await keyFor(big, 'es-key-1', 'ES256')).toBe(false);
    expect(errors.at(-1)).toMatch(/larger than 65536 bytes/);
    server.doc = '{"keys": "not an array"}';
    const malformed = remoteJwks({ url: server.url, onError: (m) => errors.push(m) });
    expect(await keyFor(malformed, 'es-key-1', 'ES256')).toBe(false);
    expect(errors.at(-1)).toMatch(/no "keys" array/);
  });

  it('uses a key only for its own algorithm; symmetric, encryption and weak RSA keys are not used', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    server.doc = {
      keys: [
        { ...jwkOf(es), kid: 'enc', use: 'enc' },
        { kty: 'oct', kid: 'oct', k: Buffer.from('a shared secret that is long enough').toString('base64url') },
        { ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' },
        { ...jwkOf(es), kid: 'mislabelled', alg: 'RS256' },
        jwkOf(es),
      ],
    };
    const source = remoteJwks({ url: server.url });
    expect(await keyFor(source, 'es-key-1', 'RS256')).toBe(false); // an EC key never verifies RS256
    expect(await keyFor(source, 'es-key-1', 'ES256')).toBe(true);
    for (const kid of ['enc', 'oct', 'mislabelled']) {
      expect(await keyFor(source, kid, 'ES256')).toBe(false);
      expect(await keyFor(source, kid, 'RS256')).toBe(false);
    }
    // A 1024-bit RSA key is refused when it would verify.
    const weakSession = mintSupabaseJwtWithKey({ alg: 'RS256', kid: 'weak', privateKey: weak.privateKey }, {});
    expect(await verifySupabaseSession(weakSession, { jwks: source }, new Date())).toMatchObject({ ok: false, status: 401 });
  });

  it('starts from SUPABASE_JWKS (no fetch at a cold start) for the project URL only; an unknown kid still fetches', async () => {
    expect(jwksSeedOf({ SUPABASE_JWKS: '{"keys":[]}' })).toBe('{"keys":[]}');
    expect(jwksSeedOf({ SUPABASE_JWKS: '{"keys":[]}', JWKS_URL: 'https://keys.example.org/jwks' })).toBeUndefined();
    expect(jwksSeedOf({ SUPABASE_JWKS: '{"keys":[]}', SUPABASE_JWKS_URL: 'https://keys.example.org/jwks' })).toBeUndefined();

    const seeded = remoteJwks({ url: server.url, initial: JSON.stringify({ keys: [jwkOf(es)] }) });
    expect(await keyFor(seeded, 'es-key-1', 'ES256')).toBe(true);
    expect(server.requests).toBe(0);
    expect(await keyFor(seeded, 'rs-key-1', 'RS256')).toBe(true); // not in the seed: fetched
    expect(server.requests).toBe(1);

    const errors: string[] = [];
    const broken = remoteJwks({ url: server.url, initial: 'not json', onError: (m) => errors.push(m) });
    expect(await keyFor(broken, 'es-key-1', 'ES256')).toBe(true); // the URL instead
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^SUPABASE_JWKS/);
    expect(server.requests).toBe(2);
  });

  it('verifies sessions in Node too (the same jose code as the function)', async () => {
    vi.useRealTimers();
    const source = remoteJwks({ url: server.url });
    const now = new Date();
    const ok = await verifySupabaseSession(mintSupabaseJwtWithKey(es, { sub: 'u1' }), { jwks: source }, now);
    expect(ok).toEqual({ ok: true, sub: 'u1', email: 'operator@example.org', role: 'operator' });
    const rsOk = await verifySupabaseSession(mintSupabaseJwtWithKey(rs, { sub: 'u2' }), { jwks: source }, now);
    expect(rsOk.ok).toBe(true);
    // An RSA signature presented under the EC key's kid, and the other way round.
    const swapped = mintSupabaseJwtWithKey({ ...rs, kid: 'es-key-1' }, {});
    expect(await verifySupabaseSession(swapped, { jwks: source }, now)).toMatchObject({ ok: false, status: 401 });
    const noRole = await verifySupabaseSession(mintSupabaseJwtWithKey(es, { appRole: null }), { jwks: source }, now);
    expect(noRole).toMatchObject({ ok: false, status: 403 });
    // Expired, not yet valid (beyond the 30 s leeway), another audience: refused with the reason (the signature held).
    const expired = await verifySupabaseSession(mintSupabaseJwtWithKey(es, { ttlSeconds: -1 }), { jwks: source }, now);
    expect(expired).toEqual({ ok: false, status: 401, reason: 'session expired', signed: true });
    const later = new Date(now.getTime() + 120_000);
    const early = await verifySupabaseSession(mintSupabaseJwtWithKey(es, { nbf: later }), { jwks: source }, now);
    expect(early).toMatchObject({ ok: false, status: 401, reason: 'session not yet valid', signed: true });
    const soon = new Date(now.getTime() + 20_000);
    expect((await verifySupabaseSession(mintSupabaseJwtWithKey(es, { nbf: soon }), { jwks: source }, now)).ok).toBe(true);
    const anon = await verifySupabaseSession(mintSupabaseJwtWithKey(es, { aud: 'anon' }), { jwks: source }, now);
    expect(anon).toMatchObject({ ok: false, status: 401, signed: true, reason: expect.stringMatching(/aud is not/) });
    // An HS256 token is never checked against the JWKS, nor an ES256 one with the secret.
    const hs = mintSupabaseJwt('a-secret-that-is-long-enough-for-hs256', {});
    expect(await verifySupabaseSession(hs, { jwks: source }, now)).toMatchObject({ ok: false, reason: 'algorithm not accepted' });
    const esOnly = mintSupabaseJwtWithKey(es, {});
    expect(await verifySupabaseSession(esOnly, { jwtSecret: 'a-secret-that-is-long-enough-for-hs256' }, now)).toMatchObject({
      ok: false,
      reason: 'algorithm not accepted',
    });
  });

  it('refuses when the JWKS endpoint is down or unreachable (no reason given)', async () => {
    vi.useRealTimers();
    server.status = 500;
    const down = remoteJwks({ url: server.url });
    const now = new Date();
    expect(await verifySupabaseSession(mintSupabaseJwtWithKey(es, {}), { jwks: down }, now)).toMatchObject({
      ok: false,
      status: 401,
      signed: false,
    });
    const nowhere = remoteJwks({ url: 'http://127.0.0.1:1/auth/v1/.well-known/jwks.json', timeoutMs: 1_000 });
    expect(await verifySupabaseSession(mintSupabaseJwtWithKey(es, {}), { jwks: nowhere }, now)).toMatchObject({
      ok: false,
      status: 401,
      signed: false,
    });
  });
});

describe('scheduler-admin with SUPABASE_JWKS_URL (real gateway)', () => {
  let db: pg.Client;
  let sim: TwilioSimulator;
  let gw: Gateway;
  const secret = randomSecret('jwt');

  beforeAll(async () => {
    db = await connect();
    await disableCronJobs(db);
    await resetData(db);
    sim = await startSim({ seed: 15, callbacks: false });
    // Both kinds configured: the HS256 secret (under JWT_SECRET, the name a hosted project can set)
    // and the JWKS (an HS256 token must never be checked with a public key).
    gw = await startGateway(
      functionsEnv(sim, { JWT_SECRET: secret, SUPABASE_JWKS_URL: server.url, AUTH_FAILURE_LIMIT: '1000' }),
    );
  });

  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await sim?.close();
    await resetData(db);
    await db?.end();
  });

  const call = (token: string, body?: unknown) =>
    request(`${gw.url}/scheduler-admin/campaigns`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });

  it('accepts ES256 and RS256 operator sessions and names the user in the audit trail', async () => {
    server.doc = jwks;
    server.status = 200;
    const sub = '0b7a3f0e-6a43-4d0e-9f43-7d3c2b1a0e11';
    const token = mintSupabaseJwtWithKey(es, { sub, email: 'ines@example.org' });
    expect(token.length).toBeGreaterThan(400);
    const made = await call(token, { name: 'by ines (ES256)' });
    expect(made.status).toBe(201);
    const audit = await db.query<{ actor: string; action: string }>(
      'select actor, action from public.operator_audit_log order by id desc limit 1',
    );
    expect(audit.rows[0]).toEqual({ actor: `user:${sub}:ines@example.org`, action: 'campaign.create' });
    expect((await call(mintSupabaseJwtWithKey(rs, {}))).status).toBe(200);
    // The HS256 secret (JWT_SECRET) still works beside the JWKS.
    expect((await call(mintSupabaseJwt(secret, {}))).status).toBe(200);
  });

  it('refuses: no scheduler role or a viewer writing (403), wrong kid, tampered, expired, alg none, HS256 with the public key (401)', async () => {
    server.doc = jwks;
    const ok = mintSupabaseJwtWithKey(es, { sub: 'someone' });
    const [h, p, s] = ok.split('.') as [string, string, string];

    const stranger0 = await call(mintSupabaseJwtWithKey(es, { appRole: 'member' }));
    expect(stranger0.status).toBe(403);
    expect(stranger0.json).toMatchObject({ error: 'forbidden', message: expect.stringMatching(/no scheduler role/) });
    expect((await call(mintSupabaseJwtWithKey(rs, { appRole: null }))).status).toBe(403);
    const viewer = await call(mintSupabaseJwtWithKey(es, { appRole: 'viewer' }), { name: 'by a viewer' });
    expect(viewer.status).toBe(403);
    expect(viewer.json).toMatchObject({ error: 'forbidden', role: 'viewer', needed_role: 'operator' });

    // Signed by a key the JWKS does not publish, under a kid it does not know, and under a kid it does.
    const stranger = ecKey('not-published');
    expect((await call(mintSupabaseJwtWithKey(stranger, {}))).status).toBe(401);
    const impostor = await call(mintSupabaseJwtWithKey({ ...stranger, kid: 'es-key-1' }, {}));
    expect(impostor.status).toBe(401);
    expect(impostor.json).toEqual({ error: 'unauthorized' }); // no reason given for a bad signature

    // Tampered: the payload made an operator's with another subject, the signature kept.
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
    expect((await call(`${h}.${forged}.${s}`)).status).toBe(401);
    // Tampered signature.
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect((await call(`${h}.${p}.${flipped}`)).status).toBe(401);

    const expired = await call(mintSupabaseJwtWithKey(es, { ttlSeconds: -5 }));
    expect(expired.status).toBe(401);
    expect(expired.json).toEqual({ error: 'unauthorized', message: 'session expired' });

    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect((await call(`${b64({ alg: 'none', typ: 'JWT', kid: 'es-key-1' })}.${p}.`)).status).toBe(401);
    expect((await call(`${b64({ alg: 'none', typ: 'JWT', kid: 'es-key-1' })}.${p}.${s}`)).status).toBe(401);
    expect((await call(`${b64({ alg: 'ES384', typ: 'JWT', kid: 'es-key-1' })}.${p}.${s}`)).status).toBe(401);

    // Algorithm confusion: HS256 "signed" with the public key (PEM, and the JWK as published) as the secret.
    for (const publicSecret of [es.publicKey.export({ format: 'pem', type: 'spki' }).toString(), JSON.stringify(jwkOf(es))]) {
      const head = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'es-key-1' })}.${p}`;
      const confused = `${head}.${createHmac('sha256', publicSecret).update(head).digest('base64url')}`;
      expect((await call(confused)).status).toBe(401);
    }
    // Nothing was created by any of these.
    const n = await db.query<{ n: number }>(
      "select count(*)::int as n from public.operator_audit_log where actor like 'user:admin%'",
    );
    expect(n.rows[0]!.n).toBe(0);
  });
});
