// `tsx scripts/bench/dispatch-cost.ts [--calls N] [--concurrency C] [--runs R] [--only tick|parts]
// [--migrations-from CHECKOUT] [--drops]` (another checkout's migrations, e.g. to compare with main;
// --drops: the parts again without each index and trigger of calls):
// where the database's CPU per dispatched call goes (docs/performance.md, "Dispatch"). Not part of
// `npm test` nor of `npm run bench`.
//
// On a throwaway cluster (the bench's settings, plus pg_stat_statements):
//   tick:  one runTick() over N queued calls at zero simulated latency and concurrency C, as the
//          dispatch bench runs it (directly, no PgBouncer): the statements the dispatcher sent,
//          by kind, per 1,000 calls, with their batch sizes; the backends' CPU time per 1,000 calls
//          (/proc/<pid>/schedstat); and pg_stat_statements' time by statement, the statements run
//          inside the functions included (track = all).
//   parts: claim_queued_calls() and record_dispatch_results() alone, on one connection, in batches
//          of the sizes the dispatcher uses, the backend's CPU time per call (schedstat, which
//          waiting for a core does not inflate); with --drops, again with one index or trigger of
//          calls dropped at a time (what maintaining it costs). Median of R runs, each from fresh data.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { PooledClient, SqlPool } from '../../supabase/functions/_shared/db.ts';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { runTick } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { bootstrapSupabaseShape, pushMigrations, startLocalDb } from '../stack/localdb.ts';
import { startSimProcess, stopSimProcess } from '../twilio-sim/process.ts';
import { cpuSince, cpuSnapshot, postmasterOf } from './cpu-use.ts';
import { pauseCronJobs } from './data.ts';
import { seedQueued, simPrepare } from './dispatch.ts';

const silent: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const CALLBACK_BASE = 'http://127.0.0.1:9/functions/v1/call-status';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    only: { type: 'string' },
    'migrations-from': { type: 'string' },
    drops: { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);
const RUNS = Number(values.runs);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function kindOf(text: string): string {
  const m = /public\.([a-z_]+)\s*\(/.exec(text);
  if (m) return m[1]!;
  return text.replace(/\s+/g, ' ').trim().slice(0, 60);
}

/** A pool that counts the statements sent through it, by kind, and the size of each record batch. */
function countingPool(pool: SqlPool) {
  const counts = new Map<string, number>();
  const claimRows: number[] = [];
  const recordRows: number[] = [];
  // deno-lint-ignore no-explicit-any
  const note = (text: string, params: unknown[] | undefined, rows: any[]) => {
    const k = kindOf(text);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    if (k === 'claim_queued_calls') claimRows.push(rows.length);
    if (k === 'record_dispatch_results') recordRows.push((JSON.parse(String(params?.[1])) as unknown[]).length);
  };
  const wrap = <C extends { query: SqlPool['query'] }>(c: C): C['query'] => async (text: string, params?: unknown[]) => {
    const r = await c.query(text, params);
    note(text, params, r.rows);
    return r;
  };
  const counted: SqlPool = {
    query: wrap(pool),
    connect: async (): Promise<PooledClient> => {
      const c = await pool.connect();
      return { query: wrap(c), release: (e?: Error | boolean) => c.release(e) };
    },
  };
  return { pool: counted, counts, claimRows, recordRows };
}

async function tickProfile(url: string, admin: pg.Client, postmaster: number | null): Promise<void> {
  const sim = await startSimProcess(['--seed', '7', '--no-callbacks']);
  try {
    await seedQueued(admin, CALLS, CONCURRENCY);
    await simPrepare(sim, 0);
    await admin.query('select pg_stat_statements_reset()');
    const raw = createPool(url, 20);
    const c = countingPool(raw);
    const provider = new TwilioProvider({
      accountSid: sim.accountSid,
      authToken: sim.authToken,
      baseUrl: sim.url,
      allowInsecureUrls: true,
    });
    const roles = new Map([[process.pid, 'dispatcher'], [sim.child.pid ?? -1, 'simulator']]);
    const cpu0 = cpuSnapshot(roles, postmaster);
    const r = await runTick(
      { pool: c.pool, provider, log: silent, statusCallbackUrl: (id) => `${CALLBACK_BASE}?call_id=${id}` },
      { trigger: 'local', budgetMs: 120_000 },
    );
    const cpu = cpuSince(cpu0, cpuSnapshot(roles, postmaster));
    await raw.end();
    const k = 1000 / Math.max(1, r.launched);
    console.log(`tick: ${r.launched} launched of ${CALLS}, concurrency ${CONCURRENCY}, zero latency; requeued ${r.requeued}`);
    console.log(
      `  CPU per 1,000 calls: postgres ${(cpu.postgres! * k).toFixed(0)} ms, dispatcher ${
        (cpu.dispatcher! * k).toFixed(0)
      } ms, simulator ${((cpu.simulator ?? 0) * k).toFixed(0)} ms`,
    );
    console.log('  statements sent per 1,000 calls, by kind:');
    for (const [kind, n] of [...c.counts].sort((a, b) => b[1] - a[1])) {
      console.log(`    ${(n * k).toFixed(1).padStart(8)}  ${kind}`);
    }
    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    console.log(
      `  claim rows per statement: mean ${avg(c.claimRows).toFixed(1)}, median ${median(c.claimRows)}; ` +
        `record rows per statement: mean ${avg(c.recordRows).toFixed(1)}, median ${median(c.recordRows)}`,
    );
    const { rows } = await admin.query<{ toplevel: boolean; calls: string; ms: number; query: string }>(
      `select toplevel, calls, total_exec_time as ms, regexp_replace(left(query, 90), '\\s+', ' ', 'g') as query
         from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc limit 25`,
    );
    console.log('  pg_stat_statements, execution time per 1,000 calls (nested statements are inside their callers):');
    for (const s of rows) {
      console.log(
        `    ${(s.ms * k).toFixed(1).padStart(8)} ms ${String(Math.round(Number(s.calls) * k)).padStart(6)}x ${
          s.toplevel ? 'top ' : '  in'
        } ${s.query}`,
      );
    }
  } finally {
    await stopSimProcess(sim);
  }
}

interface Variant {
  name: string;
  drop?: string;
  restore?: string;
}

/** One pass: claims every queued call in batches of `claimBatch`, records them in batches of `recordBatch`. */
async function partsPass(c: pg.Client, cpuMs: () => number, claimBatch: number, recordBatch: number) {
  let claimMs = 0;
  let recordMs = 0;
  let claimed = 0;
  let pending: string[] = [];
  const record = async (ids: string[]) => {
    const at = new Date().toISOString();
    const rows = ids.map((id) => ({
      call_id: id,
      outcome: 'accepted',
      provider_call_id: `CA${id.padStart(32, '0')}`,
      status: 'dialing',
      at,
      breaker_success: true,
    }));
    const t0 = cpuMs();
    await c.query('select breaker_state from public.record_dispatch_results($1, $2::jsonb)', ['twilio', JSON.stringify(rows)]);
    recordMs += cpuMs() - t0;
  };
  for (;;) {
    const t0 = cpuMs();
    const { rows } = await c.query<{ call_id: string; release_reason: string | null }>(
      'select call_id::text, release_reason from public.claim_queued_calls($1, null, now(), null, 600000, 100, null)',
      [claimBatch],
    );
    claimMs += cpuMs() - t0;
    if (rows.length === 0) break;
    const ok = rows.filter((r) => r.release_reason === null).map((r) => r.call_id);
    claimed += ok.length;
    pending.push(...ok);
    while (pending.length >= recordBatch) {
      await record(pending.slice(0, recordBatch));
      pending = pending.slice(recordBatch);
    }
  }
  if (pending.length) await record(pending);
  return { claimed, claimUs: (claimMs * 1000) / Math.max(1, claimed), recordUs: (recordMs * 1000) / Math.max(1, claimed) };
}

async function partsProfile(admin: pg.Client): Promise<void> {
  const pid = (await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  const cpuMs = () => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  const { rows: ix } = await admin.query<{ name: string; def: string }>(
    `select indexrelid::regclass::text as name, pg_get_indexdef(indexrelid) as def from pg_index
      where indrelid = 'public.calls'::regclass and not indisprimary and not indisunique order by 1`,
  );
  const { rows: tg } = await admin.query<{ name: string; def: string }>(
    `select tgname as name, pg_get_triggerdef(oid) as def from pg_trigger
      where tgrelid = 'public.calls'::regclass and not tgisinternal order by 1`,
  );
  const variants: Variant[] = [
    { name: 'as migrated' },
    ...tg.map((t) => ({ name: `without trigger ${t.name}`, drop: `drop trigger ${t.name} on public.calls`, restore: t.def })),
    ...ix.map((i) => ({ name: `without index ${i.name}`, drop: `drop index ${i.name}`, restore: i.def })),
  ];
  const shapes: Array<[number, number]> = [[50, 50], [50, 10], [3, 3]];
  for (const [claimBatch, recordBatch] of shapes) {
    console.log(
      `parts: ${CALLS} calls, claims of ${claimBatch}, records of ${recordBatch}; backend CPU us per call, median of ${RUNS}`,
    );
    for (const v of values.drops && claimBatch === 50 && recordBatch === 50 ? variants : variants.slice(0, 1)) {
      const claims: number[] = [];
      const records: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        await seedQueued(admin, CALLS, CONCURRENCY);
        await admin.query('checkpoint');
        if (v.drop) await admin.query(v.drop);
        try {
          const p = await partsPass(admin, cpuMs, claimBatch, recordBatch);
          if (p.claimed !== CALLS) throw new Error(`${v.name}: claimed ${p.claimed} of ${CALLS}`);
          claims.push(p.claimUs);
          records.push(p.recordUs);
        } finally {
          if (v.restore) await admin.query(v.restore);
        }
      }
      console.log(
        `  ${v.name.padEnd(48)} claim ${median(claims).toFixed(0).padStart(5)}  record ${
          median(records).toFixed(0).padStart(5)
        }  ` +
          `total ${(median(claims) + median(records)).toFixed(0).padStart(5)}   (claim runs ${
            claims.map((x) => x.toFixed(0)).join(' ')
          })`,
      );
    }
  }
}

async function main(): Promise<void> {
  const db = await startLocalDb({
    persistent: false,
    log: (s) => process.stderr.write(`[dispatch-cost] ${s}\n`),
    settings: [
      "shared_buffers = '1GB'",
      "effective_cache_size = '3GB'",
      "maintenance_work_mem = '256MB'",
      'random_page_cost = 1.1',
      "shared_preload_libraries = 'pg_cron,pg_stat_statements'",
      'pg_stat_statements.track = all',
    ],
  });
  try {
    await bootstrapSupabaseShape(db.url);
    await pushMigrations(db.url, values['migrations-from'] ? { cwd: values['migrations-from'] } : {});
    const admin = new pg.Client({ connectionString: db.url, application_name: 'dispatch-cost' });
    await admin.connect();
    await pauseCronJobs(admin);
    await admin.query('create extension if not exists pg_stat_statements');
    const postmaster = postmasterOf((await admin.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
    if (values.only !== 'parts') await tickProfile(db.url, admin, postmaster);
    if (values.only !== 'tick') await partsProfile(admin);
    await admin.end();
  } finally {
    await db.stop();
  }
}

await main();
