// `npm start -- --once` against the test database: starts the whole stack, seeds the demo into the
// empty database, ticks once through the local Vercel route exactly as Vercel Cron would, prints
// one tick line and exits 0, leaving no process behind. It prints the admin token and a local
// operator's Supabase Auth session signed with the functions' SUPABASE_JWT_SECRET (its sign-in is
// proven in test/e2e/dashboard-controls.test.ts). With continuous dispatch on, the tick line says
// its count is so far, and a done line follows with what the whole run launched, as recorded in
// its scheduler_runs row.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/stack/localdb.ts';
import { LOCAL_OPERATOR } from '../../scripts/stack/stack.ts';
import { verifySupabaseSession } from '../../supabase/functions/_shared/operator-auth.ts';
import { resetData, testDbUrl, updateSettings, withClient } from '../support/db.ts';
import { finishedRunLine } from '../../scripts/stack/tick-lines.ts';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const JWT_SECRET = 'start-test-jwt-secret-0123456789abcdef';

function runStart(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('scripts', 'start.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: testDbUrl(), SUPABASE_JWT_SECRET: JWT_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// The tick dispatches (at the default one call a second) until its budget nears: a short budget
// keeps the run short. Nothing here asserts how many calls a tick launches.
const TICK_BUDGET_MS = 2_000;

beforeAll(() =>
  withClient(async (c) => {
    await resetData(c);
    await updateSettings(c, { tick_budget_ms: TICK_BUDGET_MS });
  })
);
afterAll(() => withClient(resetData));

describe('npm start -- --once', () => {
  it('starts the stack, seeds the demo, prints one tick line and exits 0', async () => {
    const run = await runStart(['--once'], 150_000);
    if (run.code !== 0) process.stderr.write(`${run.stdout}\n${run.stderr}\n`);
    expect(run.code).toBe(0);

    expect(run.stdout).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(run.stdout).toMatch(/Admin token\s+\S{16,}/);
    // The local operator's session: verified by the function's own check with the secret it was given.
    const session = / Session\s+(\S+)/.exec(run.stdout)?.[1] ?? '';
    expect(await verifySupabaseSession(session, { jwtSecret: JWT_SECRET }, new Date())).toEqual({
      ok: true,
      sub: LOCAL_OPERATOR.sub,
      email: LOCAL_OPERATOR.email,
      role: 'admin',
    });
    const ticks = run.stdout.split('\n').filter((l) => /^\d\d:\d\d:\d\d tick /.test(l));
    expect(ticks).toHaveLength(1);
    expect(ticks[0]).toMatch(
      /^\d\d:\d\d:\d\d tick #\d+ launched=\d+ active=\d+\/\d+ completed=\d+ errors=\d+ status=(ok|partial)$/,
    );

    // Every child it started (functions gateway, local Vercel) is gone.
    const pids = [...run.stderr.matchAll(/\((?:deno|node) pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(isAlive(pid), `process ${pid} still runs`).toBe(false);

    // It went through the Vercel route (trigger vercel) and seeded the demo campaigns.
    await withClient(async (c) => {
      const runs = await c.query<{ trigger: string }>('select trigger::text from public.scheduler_runs');
      expect(runs.rows.map((r) => r.trigger)).toContain('vercel');
      const campaigns = await c.query<{ n: string }>('select count(*) as n from public.campaigns');
      expect(Number(campaigns.rows[0]?.n)).toBeGreaterThanOrEqual(3);
    });
  }, 180_000);

  it('with continuous dispatch: the tick line counts so far, the done line the whole run (its scheduler_runs row)', async () => {
    await withClient(async (c) => {
      await resetData(c);
      // The background part runs until 8 s after the tick's start: the tick answers after about
      // TICK_BUDGET_MS, which leaves several seconds of margin on a busy machine.
      await updateSettings(c, { tick_budget_ms: TICK_BUDGET_MS, background_dispatch_ms: 8_000 });
    });
    const run = await runStart(['--once'], 150_000);
    if (run.code !== 0) process.stderr.write(`${run.stdout}\n${run.stderr}\n`);
    expect(run.code).toBe(0);
    const ticks = run.stdout.split('\n').filter((l) => /^\d\d:\d\d:\d\d tick /.test(l));
    expect(ticks, run.stdout).toHaveLength(2);
    process.stdout.write(`${ticks.join('\n')}\n`);
    const answered =
      /^\d\d:\d\d:\d\d tick #(\d+) launched=(\d+) so far active=\d+\/\d+ completed=\d+ errors=\d+ status=(ok|partial) \(dispatching until \d\d:\d\d:\d\d; its total follows when it is done\)$/
        .exec(ticks[0]!);
    expect(answered, ticks[0]).not.toBeNull();
    const done =
      /^\d\d:\d\d:\d\d tick #(\d+) done: launched=(\d+) \((\d+) before its answer, (\d+) after\) reserved=(\d+) failed=(\d+) errors=(\d+) status=(\w+)$/
        .exec(ticks[1]!);
    expect(done, ticks[1]).not.toBeNull();
    expect(done![1]).toBe(answered![1]);
    expect(Number(done![3])).toBe(Number(answered![2]));
    const row = await withClient(async (c) =>
      (await c.query<{ launched: number; reserved: number; status: string; finished: boolean }>(
        `select calls_launched as launched, calls_reserved as reserved, status::text, finished_at is not null as finished
           from public.scheduler_runs where id = $1`,
        [answered![1]],
      )).rows[0]!
    );
    // The done line is the run's own record, the background part included.
    expect(row.finished).toBe(true);
    expect(Number(done![2])).toBe(row.launched);
    expect(Number(done![2])).toBe(Number(done![3]) + Number(done![4]));
    expect(Number(done![5])).toBe(row.reserved);
    expect(done![8]).toBe(row.status);
    await withClient((c) => updateSettings(c, { background_dispatch_ms: 0 }));
  }, 180_000);

  it('the done line: what went out after the answer is the total less the answer', () => {
    const at = new Date(2026, 2, 2, 10, 1, 5);
    const line = finishedRunLine(
      at,
      { id: '12', status: 'ok', calls_launched: 37, calls_reserved: 40, calls_failed: 1, errors: 0 },
      { id: '12', launchedByAnswer: 0, continuesUntil: new Date(2026, 2, 2, 10, 2, 30) },
    );
    expect(line).toBe(
      '10:01:05 tick #12 done: launched=37 (0 before its answer, 37 after) reserved=40 failed=1 errors=0 status=ok',
    );
  });
});
