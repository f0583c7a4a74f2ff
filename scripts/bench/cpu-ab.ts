// `tsx scripts/bench/cpu-ab.ts --scale b|c [--runs N] [--drop-index NAME]... [--drop-trigger NAME]...
// [FILE.sql ...]`: an A/B of
// launch_due_calls() variants by the CPU time of the database backend, for a machine too busy for
// wall-clock A/Bs (`npm run bench -- --propose` on a loaded 2-core machine: two runs of the same
// function differed by up to 2.5x, their medians by 20%). Not part of `npm test`.
//
// Seeds one reservation scale of the bench (scripts/bench/data.ts) on a throwaway cluster, installs
// each FILE (a `create or replace function public.launch_due_calls(...)`, as --propose takes) as
// public.bench_variant_<file name>(), and measures today's function, the floor (the bench's bare
// INSERT ... SELECT) and every variant from the same state: cold (all room free), then steady
// (one tick kept, about 10% of the calls freed). Each run is BEGIN; the tick; ROLLBACK, then VACUUM,
// in an order that rotates from round to round; every contender must reserve the same number of
// calls. --drop-index NAME adds "today" and "floor" with that index dropped inside the measured
// transaction (what the index costs to maintain); --drop-index-floor NAME only the floor (for an
// index the reservation reads). --drop-trigger NAME (a trigger on contacts, campaigns or calls)
// adds "today" and "floor" with that trigger dropped the same way (what it costs to fire or to test
// its WHEN clause); --drop-trigger-today NAME only today's function (the floor writes no campaign).
//
// The time is the backend's time on a CPU (/proc/<pid>/schedstat, in ns: Linux, cluster on this
// machine), which waiting for a core does not inflate; wall-clock medians are printed beside it.
// Per contender: the median, the median of its per-round ratios to today ("paired"), the ratio to
// the floor, every run.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { bootstrapSupabaseShape, pushMigrations, startLocalDb } from '../stack/localdb.ts';
import { BENCH_EPOCH, computeExpected, freeSlots, pauseCronJobs, type Scale, seedScale } from './data.ts';
import { FLOOR_SQL } from './reserve.ts';

const SCALES: Record<string, Scale> = {
  a: { key: 'a', campaigns: 100, contactsPerCampaign: 1_000, cap: 10 },
  b: { key: 'b', campaigns: 1_000, contactsPerCampaign: 1_000, cap: 10 },
  c: { key: 'c', campaigns: 10_000, contactsPerCampaign: 100, cap: 5 },
};

interface Args {
  scale: Scale;
  runs: number;
  files: string[];
  drops: string[];
  floorDrops: string[];
  triggerDrops: string[];
  todayTriggerDrops: string[];
}

function readArgs(argv: string[]): Args {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      scale: { type: 'string', default: 'c' },
      runs: { type: 'string', default: '7' },
      'drop-index': { type: 'string', multiple: true, default: [] },
      'drop-index-floor': { type: 'string', multiple: true, default: [] },
      'drop-trigger': { type: 'string', multiple: true, default: [] },
      'drop-trigger-today': { type: 'string', multiple: true, default: [] },
    },
  });
  const scale = SCALES[values.scale];
  if (!scale) throw new Error(`--scale takes a, b or c, got ${values.scale}`);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const drops = values['drop-index'];
  const floorDrops = values['drop-index-floor'];
  const triggerDrops = values['drop-trigger'];
  const todayTriggerDrops = values['drop-trigger-today'];
  for (const name of [...drops, ...floorDrops, ...triggerDrops, ...todayTriggerDrops]) {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not an index or trigger name: ${name}`);
  }
  return {
    scale,
    runs,
    files: positionals.map((f) => path.resolve(f)),
    drops,
    floorDrops,
    triggerDrops,
    todayTriggerDrops,
  };
}

interface Contender {
  name: string;
  /** 'floor', or the function to call. */
  run: string;
  /** DDL run inside the measured transaction before the tick (dropping an index or a trigger). */
  drop?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const db = await startLocalDb({
    persistent: false,
    log: (s) => process.stderr.write(`[cpu-ab] ${s}\n`),
    settings: [
      "shared_buffers = '1GB'",
      "effective_cache_size = '3GB'",
      "maintenance_work_mem = '256MB'",
      'random_page_cost = 1.1',
    ],
  });
  try {
    await bootstrapSupabaseShape(db.url);
    await pushMigrations(db.url, {});
    const c = new pg.Client({ connectionString: db.url, application_name: 'cpu-ab' });
    await c.connect();
    await pauseCronJobs(c);
    const contenders: Contender[] = [{ name: 'today', run: 'public.launch_due_calls' }, { name: 'floor', run: 'floor' }];
    for (const file of args.files) {
      const name = path.basename(file, '.sql').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
      const sql = await readFile(file, 'utf8');
      if (!/create\s+or\s+replace\s+function\s+public\.launch_due_calls\s*\(/i.test(sql)) {
        throw new Error(`${file} must contain 'create or replace function public.launch_due_calls('`);
      }
      await c.query(sql.replace(/public\.launch_due_calls\s*\(/g, `public.bench_variant_${name}(`));
      contenders.push({ name, run: `public.bench_variant_${name}` });
    }
    for (const ix of args.drops) {
      contenders.push({ name: `today, no ${ix}`, run: 'public.launch_due_calls', drop: `drop index public.${ix}` });
    }
    for (const ix of [...args.drops, ...args.floorDrops]) {
      contenders.push({ name: `floor, no ${ix}`, run: 'floor', drop: `drop index public.${ix}` });
    }
    const triggerTable = async (name: string) => {
      const { rows } = await c.query<{ tab: string }>(
        `select t.tgrelid::regclass::text as tab from pg_catalog.pg_trigger t
          where t.tgname = $1 and not t.tgisinternal`,
        [name],
      );
      if (rows.length !== 1) throw new Error(`no single trigger named ${name}`);
      return rows[0]!.tab;
    };
    for (const tg of [...args.triggerDrops, ...args.todayTriggerDrops]) {
      const drop = `drop trigger ${tg} on ${await triggerTable(tg)}`;
      contenders.push({ name: `today, no ${tg}`, run: 'public.launch_due_calls', drop });
      if (args.triggerDrops.includes(tg)) contenders.push({ name: `floor, no ${tg}`, run: 'floor', drop });
    }

    await seedScale(c, args.scale);
    const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const cpuMs = () => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

    const measure = async (now: Date, state: string) => {
      await computeExpected(c, now);
      const cpu = new Map<string, number[]>();
      const wall = new Map<string, number[]>();
      for (let r = 0; r < args.runs; r++) {
        const reserved: number[] = [];
        for (let i = 0; i < contenders.length; i++) {
          const who = contenders[(i + r) % contenders.length]!;
          await c.query('begin');
          if (who.drop) await c.query(who.drop);
          const c0 = cpuMs();
          const w0 = performance.now();
          if (who.run === 'floor') reserved.push((await c.query(FLOOR_SQL, [now])).rowCount ?? 0);
          else {
            const { rows } = await c.query<{ n: number }>(
              `select coalesce(sum(reserved), 0)::integer as n from ${who.run}($1::timestamptz, null, null)`,
              [now],
            );
            reserved.push(rows[0]!.n);
          }
          const w = performance.now() - w0;
          const t = cpuMs() - c0;
          await c.query('rollback');
          await c.query('vacuum public.calls, public.contacts, public.campaigns');
          cpu.set(who.name, [...(cpu.get(who.name) ?? []), t]);
          wall.set(who.name, [...(wall.get(who.name) ?? []), w]);
        }
        if (new Set(reserved).size !== 1) {
          throw new Error(`${state} round ${r + 1}: the contenders reserved ${reserved.join(', ')}`);
        }
        process.stderr.write(`[cpu-ab] ${args.scale.key} ${state} ${r + 1}/${args.runs}: ${reserved[0]} reserved\n`);
      }
      const today = cpu.get('today')!;
      const floor = median(cpu.get('floor')!);
      const floorWall = median(wall.get('floor')!);
      process.stdout.write(
        `(${args.scale.key}) ${state}, ${args.runs} runs: backend CPU ms median, paired ratio to today, ratio to the floor [wall]\n`,
      );
      for (const who of contenders) {
        const xs = cpu.get(who.name)!;
        const paired = median(xs.map((x, i) => x / today[i]!));
        const ws = wall.get(who.name)!;
        process.stdout.write(
          `  ${who.name.padEnd(44)} ${median(xs).toFixed(1).padStart(8)} ms  x${paired.toFixed(3)}  /floor ${
            (median(xs) / floor).toFixed(2)
          }  [wall ${median(ws).toFixed(0)} ms, /floor ${(median(ws) / floorWall).toFixed(2)}]  runs ${
            xs.map((x) => x.toFixed(0)).join(' ')
          }\n`,
        );
      }
    };

    await measure(BENCH_EPOCH, 'cold');
    await c.query('select count(*) from public.launch_due_calls($1::timestamptz, null, null)', [BENCH_EPOCH]);
    const now = new Date(BENCH_EPOCH.getTime() + 60_000);
    await freeSlots(c, now, 1);
    await c.query('vacuum analyze public.calls, public.contacts, public.campaigns');
    await measure(now, 'steady');
    await c.end();
  } finally {
    await db.stop();
  }
}

await main();
