// The Vercel deployment as `vercel build` (the real CLI, pinned in tools/vercel) builds it into
// .vercel/output (npm test builds before vitest; ensureVercelBuild() here builds only when stale).
// Each function runs from a copy of its own .func folder, the way Vercel deploys it: loaded by plain
// Node, and served by Vercel's own Node.js launcher (@vercel/node's serverless handler). The tick
// route answers 401 without the secret, invokes the real scheduler-tick function with it, refuses a
// redirect, and answers 502 JSON when the function is unreachable.

import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildOutputConfig,
  type BuiltFunction,
  builtFunctions,
  ensureVercelBuild,
  VERCEL_OUTPUT_DIR,
} from '../../scripts/stack/vercel-build.ts';
import { type RunningFunction, startBuiltFunction } from '../../scripts/stack/vercel-function.ts';
import { addContacts, createCampaign } from '../support/builders.ts';
import { FAST_SETTINGS, newPool, resetData, updateSettings } from '../support/db.ts';
import {
  ALL_COMPLETED,
  functionsEnv,
  type Gateway,
  looksLikeStackTrace,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { closedPort } from '../support/net.ts';
import { runRow } from '../support/rows.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROUTE_SECRET = randomSecret();
const FUNCTION_SECRET = randomSecret();

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;
let functions: BuiltFunction[];
const running: RunningFunction[] = [];
const logs: string[] = [];
/** The built route's answers, kept in test-results/ for the record. */
const answers: Array<{ case: string; status: number; body: string }> = [];

function fn(route: string): BuiltFunction {
  const f = functions.find((x) => x.route === route);
  if (!f) throw new Error(`no function for ${route} in the build output`);
  return f;
}

async function launch(route: string, env: Record<string, string | undefined>): Promise<RunningFunction> {
  const r = await startBuiltFunction(fn(route), { env: { PATH: process.env.PATH, ...env }, onLog: (l) => logs.push(l) });
  running.push(r);
  return r;
}

async function get(f: RunningFunction, name: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(`${f.url}${f.route}`, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(60_000) });
  const body = await res.text();
  answers.push({ case: name, status: res.status, body });
  return { status: res.status, body, contentType: res.headers.get('content-type') ?? '' };
}

const bearer = (s: string) => ({ authorization: `Bearer ${s}` });

beforeAll(async () => {
  await ensureVercelBuild();
  functions = builtFunctions();
  pool = newPool(4);
  sim = await startSim({ timeScale: 0.002, outcomes: ALL_COMPLETED });
  gw = await startGateway(functionsEnv(sim, { CRON_SECRET: FUNCTION_SECRET }));
}, 300_000);

afterAll(async () => {
  for (const r of running) await r.close();
  await gw?.stop();
  await sim?.close();
  await pool?.end();
  if (answers.length > 0) {
    await mkdir(path.join(ROOT, 'test-results'), { recursive: true });
    await writeFile(path.join(ROOT, 'test-results', 'vercel-built-route.json'), `${JSON.stringify(answers, null, 2)}\n`);
  }
});

describe('the build output', () => {
  it('has one Node.js function per route, the handler inside its folder, and the cron', async () => {
    expect(functions.map((f) => f.route)).toEqual(['/api/dashboard-config', '/api/scheduler/tick']);
    for (const f of functions) {
      expect(f.config.launcherType, f.route).toBe('Nodejs');
      expect(f.config.runtime, f.route).toMatch(/^nodejs\d+\.x$/);
      expect(existsSync(path.join(f.dir, f.config.handler)), `${f.route}: ${f.config.handler}`).toBe(true);
    }
    expect(fn('/api/scheduler/tick').config.maxDuration).toBe(60);
    const config = await buildOutputConfig();
    expect(config.crons).toEqual([{ path: '/api/scheduler/tick', schedule: '* * * * *' }]);
    // The dashboard is deployed as static files.
    expect(existsSync(path.join(VERCEL_OUTPUT_DIR, 'static', 'index.html'))).toBe(true);
  });

  it('no compiled module imports a .ts file (what made every Vercel tick a 500)', async () => {
    for (const f of functions) {
      const files = (await readdir(f.dir, { recursive: true }))
        .filter((p) => p.endsWith('.js') && !p.split(path.sep).includes('node_modules'))
        .map((p) => path.join(f.dir, p));
      expect(files.length, f.route).toBeGreaterThan(0);
      for (const file of files) {
        const text = await readFile(file, 'utf8');
        const tsImports = [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+\.ts)['"]/g)].map((m) => m[1]);
        expect(tsImports, path.relative(f.dir, file)).toEqual([]);
      }
    }
  });

  it('each function loads with plain Node from a copy of its own folder, and its GET answers a web Request', async () => {
    for (const f of functions) {
      // Outside the repository: nothing can resolve through the project's own node_modules.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'vercel-load-'));
      try {
        await cp(f.dir, dir, { recursive: true, verbatimSymlinks: true });
        const script = `
          const mod = await import(${JSON.stringify(`./${f.config.handler}`)});
          const res = await mod.GET(new Request('https://example.vercel.app${f.route}'));
          console.log(JSON.stringify({ exports: Object.keys(mod).sort(), status: res.status, body: await res.text() }));`;
        const out = await new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
            cwd: dir,
            env: {
              PATH: process.env.PATH,
              CRON_SECRET: ROUTE_SECRET,
              SCHEDULER_TICK_URL: `${gw.url}/scheduler-tick`,
              ALLOW_INSECURE_URLS: '1',
              SCHEDULER_TICK_SECRET: FUNCTION_SECRET,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', reject);
          child.on(
            'close',
            (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${f.route} failed to load (exit ${code}):\n${stderr}`))),
          );
        });
        const result = JSON.parse(out.trim().split('\n').at(-1)!) as { exports: string[]; status: number; body: string };
        answers.push({ case: `plain Node import, GET ${f.route} without credentials`, status: result.status, body: result.body });
        if (f.route === '/api/scheduler/tick') {
          expect(result).toEqual({ exports: ['GET', 'POST'], status: 401, body: 'Unauthorized' });
        } else {
          expect(result.exports).toEqual(['GET']);
          expect(result.status).toBe(500); // no SUPABASE_FUNCTIONS_URL in this environment
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
});

describe("the tick route under Vercel's Node.js launcher", () => {
  let route: RunningFunction;

  beforeAll(async () => {
    route = await launch('/api/scheduler/tick', {
      CRON_SECRET: ROUTE_SECRET,
      SCHEDULER_TICK_URL: `${gw.url}/scheduler-tick`,
      ALLOW_INSECURE_URLS: '1',
      SCHEDULER_TICK_SECRET: FUNCTION_SECRET,
    });
  }, 60_000);

  it('401 without the secret or with a wrong one, 405 for another method; nothing reaches the function', async () => {
    const before = gw.events('tick_start').length;
    expect(await get(route, 'no secret')).toMatchObject({ status: 401, body: 'Unauthorized' });
    expect(await get(route, 'wrong secret', bearer(`${ROUTE_SECRET}x`))).toMatchObject({ status: 401, body: 'Unauthorized' });
    expect(await get(route, "the function's secret", bearer(FUNCTION_SECRET))).toMatchObject({
      status: 401,
      body: 'Unauthorized',
    });
    expect((await get(route, 'PUT with the secret', bearer(ROUTE_SECRET), 'PUT')).status).toBe(405);
    expect(gw.events('tick_start').length).toBe(before);
  });

  it('with the secret: the real scheduler-tick runs a Vercel tick for the current minute and dials', async () => {
    await resetData(pool);
    await updateSettings(pool, FAST_SETTINGS);
    const campaign = await createCampaign(pool, { cap: 5 });
    await addContacts(pool, campaign, 2);
    const a = await get(route, 'the secret (Vercel Cron)', { ...bearer(ROUTE_SECRET), 'user-agent': 'vercel-cron/1.0' });
    expect(a.status).toBe(200);
    expect(a.contentType).toContain('application/json');
    const body = JSON.parse(a.body) as { status: string; run_id: string; launched: number };
    expect(body).toMatchObject({ status: 'ok', launched: 2 });
    const run = await runRow(pool, body.run_id);
    expect(run.trigger).toBe('vercel');
    expect(run.scheduled_for!.getTime() % 60_000).toBe(0);
    expect(sim.stats().created).toBe(2);
  });
});

describe('what the built route sends, and what it does with a bad answer', () => {
  /** A loopback stand-in for the function: records each request, answers as told. */
  async function standIn(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
    const seen: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    return {
      url: `http://127.0.0.1:${port}`,
      seen,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }

  it('sends its own secret as the Bearer and no other credential, and refuses a redirect (502 JSON)', async () => {
    const elsewhere = await standIn((_req, res) => res.end('{}'));
    const fnStandIn = await standIn((_req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}/functions/v1/scheduler-tick` });
      res.end();
    });
    try {
      const r = await launch('/api/scheduler/tick', {
        CRON_SECRET: ROUTE_SECRET,
        SCHEDULER_TICK_URL: `${fnStandIn.url}/functions/v1/scheduler-tick`,
        ALLOW_INSECURE_URLS: '1',
        SCHEDULER_TICK_SECRET: FUNCTION_SECRET,
      });
      const a = await get(r, 'the function answers a redirect', bearer(ROUTE_SECRET));
      expect(a.status).toBe(502);
      expect(JSON.parse(a.body)).toEqual({
        error: 'bad_gateway',
        message: 'the scheduler-tick function answered with a redirect',
      });
      expect(elsewhere.seen).toEqual([]);
      expect(fnStandIn.seen).toHaveLength(1);
      const sent = fnStandIn.seen[0]!;
      expect(sent.url).toBe('/functions/v1/scheduler-tick');
      expect(sent.headers.authorization).toBe(`Bearer ${FUNCTION_SECRET}`);
      expect(sent.headers.apikey).toBeUndefined();
      expect(JSON.stringify(sent.headers)).not.toContain(ROUTE_SECRET);
      expect(sent.headers['content-type']).toBe('application/json');
      expect(sent.headers['user-agent']).toBe('campaign-scheduler-vercel-route');
      expect(sent.headers['x-client-info']).toBeUndefined();
      const body = JSON.parse(sent.body) as { trigger: string; scheduled_for: string };
      expect(body.trigger).toBe('vercel');
      expect(new Date(body.scheduled_for).getTime() % 60_000).toBe(0);
    } finally {
      await elsewhere.close();
      await fnStandIn.close();
    }
  });

  it('gives up on a function that does not answer: 504 JSON after TICK_FORWARD_TIMEOUT_MS', async () => {
    const held: http.ServerResponse[] = [];
    const silent = await standIn((_req, res) => held.push(res));
    try {
      const r = await launch('/api/scheduler/tick', {
        CRON_SECRET: ROUTE_SECRET,
        SCHEDULER_TICK_URL: `${silent.url}/functions/v1/scheduler-tick`,
        ALLOW_INSECURE_URLS: '1',
        SCHEDULER_TICK_SECRET: FUNCTION_SECRET,
        TICK_FORWARD_TIMEOUT_MS: '1000',
      });
      const a = await get(r, 'the function does not answer (timeout 1 s)', bearer(ROUTE_SECRET));
      expect(a.status).toBe(504);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'gateway_timeout' });
      expect(silent.seen).toHaveLength(1);
    } finally {
      for (const res of held) res.destroy();
      await silent.close();
    }
  });

  it('502 JSON when the function is unreachable, without a stack trace or a secret', async () => {
    const r = await launch('/api/scheduler/tick', {
      CRON_SECRET: ROUTE_SECRET,
      SCHEDULER_TICK_URL: `http://127.0.0.1:${await closedPort()}/functions/v1/scheduler-tick`,
      ALLOW_INSECURE_URLS: '1',
      SCHEDULER_TICK_SECRET: FUNCTION_SECRET,
    });
    const a = await get(r, 'the function is unreachable', bearer(ROUTE_SECRET));
    expect(a.status).toBe(502);
    expect(a.contentType).toContain('application/json');
    const body = JSON.parse(a.body) as Record<string, unknown>;
    expect(body.error).toBe('bad_gateway');
    expect(typeof body.scheduled_for).toBe('string');
    expect(looksLikeStackTrace(a.body)).toBe(false);
    for (const s of [ROUTE_SECRET, FUNCTION_SECRET]) {
      expect(a.body).not.toContain(s);
      expect(logs.join('\n')).not.toContain(s);
    }
  });

  it('dashboard-config answers the functions URL, and 500 when it is not configured', async () => {
    const set = await launch('/api/dashboard-config', { SUPABASE_FUNCTIONS_URL: gw.url });
    const a = await get(set, 'dashboard-config');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ functionsUrl: gw.url });
    const unset = await launch('/api/dashboard-config', {});
    const b = await get(unset, 'dashboard-config, not configured');
    expect(b.status).toBe(500);
    expect(JSON.parse(b.body)).toEqual({ functionsUrl: null });
  });
});
