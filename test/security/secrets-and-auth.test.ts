// Secrets and authentication:
//   * the comparison helpers have the semantics they promise (equality only, every accepted secret,
//     bounded input), and every secret or signature check in the HTTP code goes through them (a
//     static check: no == / === on a secret);
//   * no secret ever shows in a response, a log line or the run log, across a busy run of every
//     function (ticks with provider errors, callbacks good and forged, dashboard, metrics, wrong and
//     near-miss credentials, a database that cannot be reached, the Vercel route failing to forward);
//   * the manual trigger: 401 without or with a wrong ADMIN_TOKEN, 429 with Retry-After inside
//     manual_trigger_min_interval; a missing ADMIN_TOKEN or CRON_SECRET closes the door (500).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTickRoute } from '../../api/_lib/tick-route.ts';
import { startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { createLogger } from '../../supabase/functions/_shared/log.ts';
import { presentedSecret, timingSafeEqualStrings, verifyCronSecret } from '../../supabase/functions/_shared/secrets.ts';
import { computeTwilioSignature, verifyTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { sleep, waitFor } from '../support/clock.ts';
import { connect, disableCronJobs, resetData, testDbUrl } from '../support/db.ts';
import { functionsEnv, type Gateway, randomSecret, signedCallback, startGateway } from '../support/functions.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('constant-time comparison helpers (semantics, not timing)', () => {
  it('timingSafeEqualStrings is plain equality', async () => {
    const cases: Array<[string, string, boolean]> = [
      ['s3cret-value', 's3cret-value', true],
      ['', '', true],
      ['s3cret-value', 's3cret-valuf', false],
      ['s3cret-value', 's3cret-valu', false],
      ['s3cret-value', 's3cret-value ', false],
      ['s3cret-value', 'S3cret-value', false],
      ['', 'a', false],
      ['ünïcødé ✓', 'ünïcødé ✓', true],
      ['\u00e9', 'e\u0301', false], // composed vs decomposed é: different bytes, different secrets
      ['a\u0000b', 'a\u0000c', false],
      ['x'.repeat(10_000), 'x'.repeat(10_000), true],
      ['x'.repeat(10_000), `${'x'.repeat(9_999)}y`, false],
    ];
    for (const [a, b, equal] of cases) {
      expect(await timingSafeEqualStrings(a, b), `${JSON.stringify(a.slice(0, 20))} vs ${JSON.stringify(b.slice(0, 20))}`).toBe(
        equal,
      );
      expect(await timingSafeEqualStrings(b, a)).toBe(equal);
    }
  });

  it('verifyCronSecret accepts Bearer and x-cron-secret, the current and the previous secret, and nothing else', async () => {
    const current = 'current-secret-0123456789';
    const previous = 'previous-secret-0123456789';
    const ok = (h: Record<string, string>, accepted = [current, previous]) => verifyCronSecret(new Headers(h), accepted);
    expect(await ok({ authorization: `Bearer ${current}` })).toBe(true);
    expect(await ok({ authorization: `bearer ${current}` })).toBe(true);
    expect(await ok({ authorization: `Bearer   ${current}  ` })).toBe(true);
    expect(await ok({ 'x-cron-secret': current })).toBe(true);
    expect(await ok({ authorization: `Bearer ${previous}` })).toBe(true);
    expect(await ok({ authorization: `Bearer ${previous}` }, [current])).toBe(false);

    expect(await ok({})).toBe(false);
    expect(await ok({ authorization: `Bearer ${current}` }, [])).toBe(false);
    expect(await ok({ authorization: 'Bearer ' }, ['', current])).toBe(false);
    expect(await ok({ 'x-cron-secret': '' }, ['', current])).toBe(false);
    expect(await ok({ authorization: `Basic ${current}` })).toBe(false);
    expect(await ok({ authorization: `Bearer ${current} extra` })).toBe(false);
    expect(await ok({ authorization: `Bearer ${current}x` })).toBe(false);
    expect(await ok({ authorization: `Bearer ${current.slice(0, -1)}` })).toBe(false);
    expect(await ok({ authorization: `Bearer ${'a'.repeat(1025)}` }, ['a'.repeat(1025)])).toBe(false); // bounded input
    // A wrong Bearer is the answer even when x-cron-secret is right.
    expect(await ok({ authorization: 'Bearer wrong-secret-0123456789', 'x-cron-secret': current })).toBe(false);
    expect(presentedSecret(new Headers({ authorization: `Bearer ${current}` }))).toBe(current);
    expect(presentedSecret(new Headers({ authorization: 'Token x', 'x-cron-secret': current }))).toBe(current);
  });

  it('verifyTwilioSignature accepts exactly the signature of this URL, these parameters and this token', async () => {
    const token = 'twilio-auth-token-0123456789';
    const url = 'https://example.org/functions/v1/call-status?call_id=42';
    const params = new URLSearchParams({ CallSid: 'CA1', CallStatus: 'completed' });
    const sig = await computeTwilioSignature(token, url, params);
    expect(await verifyTwilioSignature(token, url, params, sig)).toBe(true);
    expect(await verifyTwilioSignature(token, url, params, ` ${sig} `)).toBe(true);
    expect(await verifyTwilioSignature(token, url, params, `${sig.slice(0, -2)}==`.replace(/^(.{27}).*/, '$1A'))).toBe(false);
    expect(await verifyTwilioSignature(`${token}x`, url, params, sig)).toBe(false);
    expect(await verifyTwilioSignature('', url, params, sig)).toBe(false);
    expect(await verifyTwilioSignature(token, url.replace('42', '43'), params, sig)).toBe(false);
    expect(await verifyTwilioSignature(token, url, new URLSearchParams({ CallSid: 'CA1', CallStatus: 'busy' }), sig)).toBe(false);
    expect(await verifyTwilioSignature(token, url, params, '')).toBe(false);
    expect(await verifyTwilioSignature(token, url, params, null)).toBe(false);
  });

  it('every secret, token and signature check in the HTTP code goes through those helpers (no == on a secret)', () => {
    const files = [
      'supabase/functions/_shared/secrets.ts',
      'supabase/functions/_shared/twilio.ts',
      'supabase/functions/_shared/operator-auth.ts',
      'supabase/functions/_shared/auth-limit.ts',
      'supabase/functions/_shared/opt-out.ts',
      'supabase/functions/scheduler-tick/handler.ts',
      'supabase/functions/call-status/handler.ts',
      'supabase/functions/scheduler-admin/handler.ts',
      // the admin API's route modules (tokens are made there)
      ...readdirSync(path.join(ROOT, 'supabase/functions/scheduler-admin/routes')).map((f) =>
        `supabase/functions/scheduler-admin/routes/${f}`
      ),
      'supabase/functions/scheduler-metrics/handler.ts',
      'api/_lib/tick-route.ts',
    ];
    const suspicious = files.flatMap((file) =>
      secretComparisons(readFileSync(path.join(ROOT, file), 'utf8').split('\n')).map((l) => `${file}: ${l}`)
    );
    // (the check itself finds what it looks for)
    expect(
      secretComparisons(['if (presented === secret) ok = true;', 'return given == expected;', 'if (token.length === 0) return;']),
    ).toHaveLength(2);
    expect(suspicious).toEqual([]);
    const uses = (file: string, helper: string) => readFileSync(path.join(ROOT, file), 'utf8').includes(helper);
    expect(uses('supabase/functions/scheduler-tick/handler.ts', 'verifyCronSecret(')).toBe(true);
    expect(uses('api/_lib/tick-route.ts', 'verifyCronSecret(')).toBe(true);
    expect(uses('supabase/functions/call-status/handler.ts', 'verifyTwilioSignature(')).toBe(true);
    expect(uses('supabase/functions/call-status/handler.ts', 'verifyOptOut(')).toBe(true);
    expect(uses('supabase/functions/call-status/handler.ts', 'verifyCallUrl(')).toBe(true);
    expect(uses('supabase/functions/call-status/handler.ts', 'timingSafeEqualStrings(')).toBe(true);
    expect(uses('supabase/functions/scheduler-admin/handler.ts', 'authenticateOperator(')).toBe(true);
    expect(uses('supabase/functions/_shared/operator-auth.ts', 'timingSafeEqualStrings(')).toBe(true);
    expect(uses('supabase/functions/scheduler-metrics/handler.ts', 'timingSafeEqualStrings(')).toBe(true);
  });
});

/** Lines comparing with == / === / != / !== where a side names a secret, token or signature. */
function secretComparisons(lines: string[]): string[] {
  const out: string[] = [];
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    for (const m of code.matchAll(/([\w.[\]?!]+)\s*[!=]==?\s*([\w.[\]?'"`]+)/g)) {
      const sides = [m[1]!, m[2]!];
      const sensitive = sides.some((s) => /secret|token|signature|password|expected|presented|given/i.test(s));
      // lengths, types, null checks and string literals are not secrets
      const harmless = sides.some((s) => /\.length$|^typeof$|^null$|^undefined$|^['"`]/.test(s)) || /typeof /.test(code);
      if (sensitive && !harmless) out.push(`${i + 1}: ${line.trim()}`);
    }
  });
  return out;
}

// ------------------------------------------------------------------------------------------------

let db: pg.Client;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
});

afterAll(async () => {
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
});

/** The database URL with a password of our own, when the server lets any password in (trust auth). */
async function urlWithPassword(password: string): Promise<string | null> {
  const u = new URL(testDbUrl());
  u.password = password;
  const probe = new pg.Client({ connectionString: u.toString() });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.end();
    return u.toString();
  } catch {
    return null;
  }
}

/** Every form a secret could leak in: as is, URL-encoded, inside HTTP Basic credentials. */
function leakForms(secrets: Record<string, string>, accountSid: string): Array<[string, string]> {
  const forms: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(secrets)) {
    forms.push([name, value], [`${name} (url-encoded)`, encodeURIComponent(value)]);
  }
  if (secrets.TWILIO_AUTH_TOKEN) {
    forms.push(['Twilio Basic credentials', Buffer.from(`${accountSid}:${secrets.TWILIO_AUTH_TOKEN}`).toString('base64')]);
  }
  return forms;
}

describe('secrets never show in responses, logs or the run log', () => {
  let sim: TwilioSimulator;
  const gateways: Gateway[] = [];

  afterAll(async () => {
    for (const g of gateways) await g.stop('SIGKILL');
    await sim?.close();
  });

  it('across a busy run of every function, with errors of every kind', async () => {
    sim = await startTwilioSimulator({
      seed: 5,
      timeScale: 0.01,
      faults: { rate500: 0.2, rate503: 0.1 },
      invalidNumbers: ['+15550500003'],
    });
    const dbPassword = `db-${randomSecret('password')}`;
    const dbUrl = (await urlWithPassword(dbPassword)) ?? testDbUrl();
    const secrets: Record<string, string> = {
      CRON_SECRET: randomSecret('cron'),
      CRON_SECRET_PREVIOUS: randomSecret('cron-previous'),
      ADMIN_TOKEN: randomSecret('admin'),
      METRICS_TOKEN: randomSecret('metrics'),
      TWILIO_AUTH_TOKEN: sim.authToken,
      ...(dbUrl.includes(dbPassword) ? { DB_PASSWORD: dbPassword } : {}),
    };
    const env = functionsEnv(sim, { ...secrets, DB_PASSWORD: undefined }, dbUrl);
    const gw = await startGateway(env);
    gateways.push(gw);
    // The same functions with a database that cannot be reached (its URL carries the password).
    const deadDb = new URL(dbUrl);
    deadDb.port = '1';
    deadDb.password = dbPassword;
    const broken = await startGateway({ ...env, SUPABASE_DB_URL: deadDb.toString() });
    gateways.push(broken);

    await db.query(
      `update public.scheduler_settings set provider_calls_per_second = 100, dispatch_concurrency = 5, provider_request_timeout_ms = 2000`,
    );
    const campaign = await createCampaign(db, { name: 'secrets run', cap: 20 });
    await addContacts(db, campaign, [...freshPhones(11), '+15550500003']);

    const responses: string[] = [];
    const hit = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
      responses.push(`${url} ${res.status}\n${headers}\n${await res.text()}`);
      return res.status;
    };
    const bearer = (s: string) => ({ authorization: `Bearer ${s}` });

    // Ticks (provider 500s, 503s, an invalid number), with the current and the previous secret.
    expect(await hit(`${gw.url}/scheduler-tick`, { method: 'POST', headers: bearer(secrets.CRON_SECRET!) })).toBe(200);
    expect(await hit(`${gw.url}/scheduler-tick`, { headers: { 'x-cron-secret': secrets.CRON_SECRET_PREVIOUS! } })).toBe(200);
    // Wrong and near-miss credentials everywhere (containing most of the real secret).
    for (const s of Object.values(secrets)) {
      for (const wrong of [`${s}x`, s.slice(0, -1), ` ${s}`.toUpperCase()]) {
        await hit(`${gw.url}/scheduler-tick`, { method: 'POST', headers: bearer(wrong) });
        await hit(`${gw.url}/scheduler-tick`, { headers: { 'x-cron-secret': wrong } });
        await hit(`${gw.url}/scheduler-admin/status`, { headers: bearer(wrong) });
        await hit(`${gw.url}/scheduler-metrics`, { headers: bearer(wrong) });
      }
    }
    // Callbacks: real ones (through the simulator), forged ones, malformed ones.
    await waitFor('the simulator to deliver its callbacks', () => sim.stats().callbacksPending === 0 && sim.stats().created > 0, {
      timeoutMs: 15_000,
      orTimeout: 'return',
    });
    const { rows: calls } = await db.query<{ id: string }>(
      `select id::text from public.calls where provider_call_id is not null limit 1`,
    );
    const forged = await signedCallback(`${sim.authToken}x`, gw.url, calls[0]?.id ?? '1', {
      CallSid: 'CA1',
      CallStatus: 'completed',
    });
    await hit(forged.url, { method: 'POST', headers: forged.headers, body: forged.body });
    const malformed = await signedCallback(sim.authToken, gw.url, calls[0]?.id ?? '1', {
      CallSid: `CA${sim.authToken}`,
      CallStatus: 'exploded',
    });
    await hit(malformed.url, { method: 'POST', headers: malformed.headers, body: malformed.body });
    // A named operator token: made (its one showing is the only answer allowed to hold it), used, revoked, tried again.
    const made = await fetch(`${gw.url}/scheduler-admin/tokens`, {
      method: 'POST',
      headers: { ...bearer(secrets.ADMIN_TOKEN!), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scan', role: 'admin', expires_in_days: 1 }),
    });
    expect(made.status).toBe(201);
    const madeBody = (await made.json()) as { token: string; id: string };
    const operatorToken = String(madeBody.token);
    secrets.OPERATOR_TOKEN = operatorToken;
    expect(await hit(`${gw.url}/scheduler-admin/trigger`, { method: 'POST', headers: bearer(operatorToken) })).toBe(200);
    expect(await hit(`${gw.url}/scheduler-admin/tokens`, { headers: bearer(operatorToken) })).toBe(200);
    expect(
      await hit(`${gw.url}/scheduler-admin/tokens/${madeBody.id}`, { method: 'DELETE', headers: bearer(secrets.ADMIN_TOKEN!) }),
    ).toBe(
      200,
    );
    // Refused (429 rather than 401: this source has failed often enough above to be limited).
    expect([401, 429]).toContain(await hit(`${gw.url}/scheduler-admin/status`, { headers: bearer(operatorToken) }));
    await db.query(`update public.scheduler_settings set manual_trigger_min_interval = '0'`);
    // Dashboard, trigger, metrics with the right credentials.
    expect(await hit(`${gw.url}/scheduler-admin/status`, { headers: bearer(secrets.ADMIN_TOKEN!) })).toBe(200);
    expect(await hit(`${gw.url}/scheduler-admin/trigger`, { method: 'POST', headers: bearer(secrets.ADMIN_TOKEN!) })).toBe(200);
    expect(await hit(`${gw.url}/scheduler-metrics`, { headers: bearer(secrets.METRICS_TOKEN!) })).toBe(200);
    // The unreachable database: every function answers an error, none a secret.
    expect(await hit(`${broken.url}/scheduler-tick`, { method: 'POST', headers: bearer(secrets.CRON_SECRET!) })).toBe(500);
    await hit(`${broken.url}/scheduler-admin/status`, { headers: bearer(secrets.ADMIN_TOKEN!) });
    await hit(`${broken.url}/scheduler-admin/trigger`, { method: 'POST', headers: bearer(secrets.ADMIN_TOKEN!) });
    await hit(`${broken.url}/scheduler-metrics`, { headers: bearer(secrets.METRICS_TOKEN!) });
    await hit(forged.url.replace(gw.url, broken.url), { method: 'POST', headers: forged.headers, body: forged.body });

    // The Vercel route: a refused request, a forward that fails, a function that refuses our secret.
    const routeSecret = randomSecret('route');
    const routeLog: string[] = [];
    for (const answer of ['throw', 401, 302] as const) {
      const route = createTickRoute({
        env: {
          CRON_SECRET: routeSecret,
          SCHEDULER_TICK_URL: `${gw.url}/scheduler-tick`,
          ALLOW_INSECURE_URLS: '1',
          SCHEDULER_TICK_SECRET: secrets.CRON_SECRET!,
        },
        fetch: async () => {
          if (answer === 'throw') throw new TypeError(`connect ECONNREFUSED (Bearer ${secrets.CRON_SECRET})`);
          return new Response(answer === 401 ? 'Unauthorized' : '', {
            status: answer,
            headers: answer === 302 ? { location: '/x' } : {},
          });
        },
        log: createLogger({
          service: 'route',
          secrets: [routeSecret, secrets.CRON_SECRET!],
          write: (line) => routeLog.push(line),
        }),
      });
      for (const headers of [bearer(routeSecret), bearer(`${routeSecret}x`)]) {
        const res = await route(new Request('http://vercel.local/api/scheduler/tick', { headers }));
        responses.push(`route ${answer} ${res.status}\n${await res.text()}`);
      }
    }

    await sleep(300); // the last log lines
    const { rows: runLog } = await db.query<{ t: string }>(`select row_to_json(r)::text as t from public.scheduler_runs r`);
    const { rows: callLog } = await db.query<{ t: string }>(
      `select coalesce(error, '') || ' ' || coalesce(error_code, '') as t from public.calls`,
    );
    const { rows: auditLog } = await db.query<{ t: string }>(`select row_to_json(a)::text as t from public.operator_audit_log a`);
    const { rows: failures } = await db.query<{ t: string }>(`select row_to_json(f)::text as t from public.auth_failures f`);
    expect(auditLog.length).toBeGreaterThanOrEqual(3); // token.create, tick.trigger, token.revoke
    expect(failures.length).toBeGreaterThanOrEqual(1);
    const haystacks: Array<[string, string]> = [
      ['responses', responses.join('\n')],
      ['functions log', gw.logs.join('\n')],
      ['functions log (unreachable database)', broken.logs.join('\n')],
      ['Vercel route log', routeLog.join('\n')],
      ['run log', runLog.map((r) => r.t).join('\n')],
      ['calls', callLog.map((r) => r.t).join('\n')],
      ['audit trail', auditLog.map((r) => r.t).join('\n')],
      ['failed authentication counts', failures.map((r) => r.t).join('\n')],
    ];
    // The run was busy enough to have something to leak.
    expect(gw.logs.length).toBeGreaterThan(10);
    expect(broken.logs.some((l) => l.includes('"level":"error"'))).toBe(true);
    expect(runLog.length).toBeGreaterThanOrEqual(3);
    const leaks: string[] = [];
    for (const [where, text] of haystacks) {
      for (const [name, form] of leakForms({ ...secrets, ROUTE_SECRET: routeSecret }, sim.accountSid)) {
        if (text.includes(form)) leaks.push(`${name} in ${where}`);
      }
      // Nor the hash of any secret or token (what operator_tokens stores), in hex or base64.
      for (const [name, value] of Object.entries(secrets)) {
        const digest = createHash('sha256').update(value).digest();
        for (const form of [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')]) {
          if (text.includes(form)) leaks.push(`the SHA-256 of ${name} in ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});

describe('the manual trigger', () => {
  const gateways: Gateway[] = [];
  let sim: TwilioSimulator;

  afterAll(async () => {
    for (const g of gateways) await g.stop('SIGKILL');
    await sim?.close();
  });

  it('needs ADMIN_TOKEN (401 without it or with a wrong one) and is rate-limited (429 with Retry-After)', async () => {
    sim = await startTwilioSimulator({ seed: 9, callbacks: false });
    const env = functionsEnv(sim);
    const gw = await startGateway(env);
    gateways.push(gw);
    await db.query(`update public.scheduler_settings set manual_trigger_min_interval = '10 seconds'`);
    const trigger = (headers: Record<string, string>) =>
      fetch(`${gw.url}/scheduler-admin/trigger`, { method: 'POST', headers, signal: AbortSignal.timeout(30_000) });

    const refused: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${env.ADMIN_TOKEN}x` },
      { authorization: `Bearer ${env.CRON_SECRET}` },
      { 'x-cron-secret': env.ADMIN_TOKEN! },
    ];
    for (const headers of refused) {
      const res = await trigger(headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized' });
    }
    expect((await db.query('select count(*)::int as n from public.scheduler_runs')).rows[0]!.n).toBe(0);

    const first = await trigger({ authorization: `Bearer ${env.ADMIN_TOKEN}` });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ status: 'ok' });
    const second = await trigger({ authorization: `Bearer ${env.ADMIN_TOKEN}` });
    expect(second.status).toBe(429);
    const retryAfter = Number(second.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    const body = (await second.json()) as { error: string; retry_after_ms: number };
    expect(body.error).toBe('rate_limited');
    expect(body.retry_after_ms).toBeGreaterThan(0);
    expect(body.retry_after_ms).toBeLessThanOrEqual(10_000);

    // Concurrent presses inside the interval: none runs.
    const burst = await Promise.all(Array.from({ length: 5 }, () => trigger({ authorization: `Bearer ${env.ADMIN_TOKEN}` })));
    expect(burst.map((r) => r.status)).toEqual([429, 429, 429, 429, 429]);
    const { rows } = await db.query<{ trigger: string; n: number }>(
      `select trigger::text, count(*)::int as n from public.scheduler_runs group by 1`,
    );
    expect(rows).toEqual([{ trigger: 'manual', n: 1 }]);
  });

  it('with ADMIN_TOKEN or CRON_SECRET missing, the door is closed (500 server_misconfigured), never open', async () => {
    sim ??= await startTwilioSimulator({ seed: 9, callbacks: false });
    const env = functionsEnv(sim, { ADMIN_TOKEN: undefined, CRON_SECRET: '   ' });
    const gw = await startGateway(env);
    gateways.push(gw);
    for (
      const [url, init] of [
        [`${gw.url}/scheduler-admin/trigger`, { method: 'POST' }],
        [`${gw.url}/scheduler-admin/trigger`, { method: 'POST', headers: { authorization: 'Bearer undefined' } }],
        [`${gw.url}/scheduler-admin/status`, { headers: { authorization: 'Bearer ' } }],
        [`${gw.url}/scheduler-tick`, { method: 'POST' }],
        [`${gw.url}/scheduler-tick`, { method: 'POST', headers: { authorization: 'Bearer    ' } }],
        [`${gw.url}/scheduler-tick`, { method: 'POST', headers: { 'x-cron-secret': 'undefined' } }],
      ] as const
    ) {
      const res = await fetch(url, init as RequestInit);
      expect(res.status, url).toBe(500);
      expect(await res.json()).toEqual({ error: 'server_misconfigured' });
    }
    expect((await db.query('select count(*)::int as n from public.scheduler_runs')).rows[0]!.n).toBe(0);
    expect(gw.events('config_error').map((e) => String(e.message))).toEqual(
      expect.arrayContaining([expect.stringContaining('CRON_SECRET'), expect.stringContaining('ADMIN_TOKEN')]),
    );
  });
});
