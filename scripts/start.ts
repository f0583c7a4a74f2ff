// `npm start [-- --interval <seconds>] [--once] [--no-seed]`: the whole scheduler on this machine.
//
// Starts (or resumes) the persistent local database in .local/, the Twilio simulator, the Edge
// Functions (real Deno) and a local Vercel with the dashboard; seeds demo campaigns when there are
// none; prints the URLs, the admin token and a local operator's Supabase Auth session (minted with
// the local SUPABASE_JWT_SECRET); then ticks like Vercel Cron: every 60 s on the minute,
// GET /api/scheduler/tick with `Authorization: Bearer <route secret>`, one line per tick when it
// answers, and, for a run that goes on dispatching after its answer, a done line with what the
// whole run launched once it has finished (scripts/stack/tick-lines.ts).
// pg_cron's own every-minute job runs inside the database as well (reservation only): both are
// safe together. Ctrl-C stops everything; the next `npm start` resumes where this one stopped.
//
//   --interval <s>  tick every <s> seconds (also TICK_INTERVAL_SECONDS). Below 60 s the ticks go
//                   straight to the scheduler-tick function with trigger 'local': the Vercel route
//                   identifies each tick by its minute, so a second one in the same minute would be
//                   recorded as a duplicate and do nothing.
//   --once          one tick, then stop (exit code 0 when the tick answered 2xx); when its run goes
//                   on dispatching after the answer, it waits for the run's done line first (at
//                   most scheduler_settings.background_dispatch_ms after the tick, plus 15 s).
//   --no-seed       do not seed demo campaigns into an empty database.
//   --verbose       also print the services' structured log lines.

import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { REPO_ROOT } from './stack/localdb.ts';
import { weakSecretProblem } from '../supabase/functions/_shared/config.ts';
import { seedDemoIfEmpty } from './stack/demo-seed.ts';
import { clock, type FinishedRun, finishedRunLine, type RunUnderWay } from './stack/tick-lines.ts';
import { ensurePrerequisites } from './stack/prereqs.ts';
import {
  generateSecret,
  LOCAL_OPERATOR,
  LOCAL_SESSION_TTL_SECONDS,
  readStatusSummary,
  type Stack,
  type StackSecrets,
  startStack,
  type TickReply,
} from './stack/stack.ts';

const USAGE = 'usage: npm start [-- --interval <seconds>] [--once] [--no-seed] [--verbose]';

interface StartOptions {
  intervalSeconds: number;
  once: boolean;
  seed: boolean;
  verbose: boolean;
}

function parseOptions(argv: string[]): StartOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      interval: { type: 'string' },
      once: { type: 'boolean', default: false },
      'no-seed': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const raw = values.interval ?? process.env.TICK_INTERVAL_SECONDS ?? '60';
  const intervalSeconds = Number(raw);
  if (!Number.isInteger(intervalSeconds) || intervalSeconds < 1 || intervalSeconds > 3600) {
    throw new Error(`--interval must be a whole number of seconds between 1 and 3600, got ${raw}\n${USAGE}`);
  }
  return { intervalSeconds, once: values.once, seed: !values['no-seed'], verbose: values.verbose };
}

const LOCAL_DIR = path.join(REPO_ROOT, '.local');
const SECRETS_FILE = path.join(LOCAL_DIR, 'dev-secrets.json');
const LOG_DIR = path.join(LOCAL_DIR, 'logs');

/**
 * The local secrets: from the environment (ADMIN_TOKEN, CRON_SECRET, VERCEL_CRON_SECRET,
 * SUPABASE_JWT_SECRET), else from
 * .local/dev-secrets.json (so the dashboard stays signed in across restarts), else generated there.
 */
async function localSecrets(persist: boolean): Promise<StackSecrets> {
  let saved: Partial<StackSecrets> = {};
  if (existsSync(SECRETS_FILE)) {
    try {
      saved = JSON.parse(readFileSync(SECRETS_FILE, 'utf8')) as Partial<StackSecrets>;
    } catch {
      saved = {};
    }
  }
  // The functions refuse a weak secret at start-up (weakSecretProblem): say so here, naming the
  // variable, rather than start a stack that answers 500. A weak saved one is made anew.
  const strong = (name: string, fromEnv: string | undefined, fromFile: string | undefined): string => {
    if (fromEnv) {
      const problem = weakSecretProblem(fromEnv);
      if (problem) throw new Error(`${name} ${problem}`);
      return fromEnv;
    }
    return fromFile && !weakSecretProblem(fromFile) ? fromFile : generateSecret();
  };
  const secrets: StackSecrets = {
    adminToken: strong('ADMIN_TOKEN', process.env.ADMIN_TOKEN, saved.adminToken),
    cronSecret: strong('CRON_SECRET', process.env.CRON_SECRET, saved.cronSecret),
    routeSecret: strong('VERCEL_CRON_SECRET', process.env.VERCEL_CRON_SECRET, saved.routeSecret),
    jwtSecret: process.env.SUPABASE_JWT_SECRET || saved.jwtSecret || generateSecret(),
  };
  const metricsProblem = process.env.METRICS_TOKEN ? weakSecretProblem(process.env.METRICS_TOKEN) : undefined;
  if (metricsProblem) throw new Error(`METRICS_TOKEN ${metricsProblem}`);
  if (persist) {
    await mkdir(LOCAL_DIR, { recursive: true });
    await writeFile(SECRETS_FILE, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    await chmod(SECRETS_FILE, 0o600);
  }
  return secrets;
}

/**
 * The sign-in a Supabase Auth user would get, minted here (GoTrue is not run locally): an access
 * token of LOCAL_OPERATOR with app_metadata.role 'admin', HS256-signed with the functions'
 * SUPABASE_JWT_SECRET. A fresh one at every start.
 */
function sessionLines(stack: Stack): string[] {
  const token = stack.operatorSession();
  const until = new Date(Date.now() + LOCAL_SESSION_TTL_SECONDS * 1000);
  return [
    `  Session      ${token}`,
    `               (a Supabase Auth session of the operator ${LOCAL_OPERATOR.email}, signed with the local SUPABASE_JWT_SECRET;`,
    `               it signs in to the dashboard like the admin token; valid until ${
      until.toISOString().slice(0, 16).replace('T', ' ')
    } UTC)`,
  ];
}

function redactUrl(url: string): string {
  return url.replace(/(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/, '$1****@');
}

const n = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? 0));

/**
 * Prints the done line of each run under way that has finished. Waits up to `waitMs` (polling)
 * for every one but `exceptId` (the run just started, which goes on): the previous run stops at
 * its next claim once the new tick has taken the dispatch over.
 */
async function reportFinishedRuns(
  db: pg.Client,
  underWay: Map<string, RunUnderWay>,
  waitMs: number,
  exceptId?: string,
): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    if (underWay.size === 0) return;
    const { rows } = await db.query<FinishedRun>(
      `select id::text, status::text, calls_launched, calls_reserved, calls_failed, jsonb_array_length(errors) as errors
         from public.scheduler_runs
        where id = any($1::bigint[]) and finished_at is not null
        order by id`,
      [[...underWay.keys()]],
    ).catch(() => ({ rows: [] as FinishedRun[] }));
    for (const r of rows) {
      process.stdout.write(`${finishedRunLine(new Date(), r, underWay.get(r.id)!)}\n`);
      underWay.delete(r.id);
    }
    const waiting = [...underWay.keys()].filter((id) => id !== exceptId);
    if (waiting.length === 0 || Date.now() >= until) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * One tick, printed as one line when it has answered (plus up to three error lines). When the run
 * goes on dispatching after its answer, the line says so ("so far") and the run is added to
 * `underWay`: its done line, with what the whole run launched, follows once it has finished.
 * True when 2xx; the run's id when there is one.
 */
async function tickAndReport(
  stack: Stack,
  db: pg.Client,
  viaRoute: boolean,
  underWay: Map<string, RunUnderWay>,
): Promise<{ ok: boolean; runId?: string }> {
  const at = new Date(); // the line shows when the tick was sent
  let reply: TickReply;
  try {
    reply = viaRoute ? await stack.tickViaRoute() : await stack.tickLocal();
  } catch (err) {
    process.stdout.write(`${clock(at)} tick failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return { ok: false };
  }
  const b = reply.body;
  const ok = reply.httpStatus >= 200 && reply.httpStatus < 300;
  if (!ok && b.run_id === undefined) {
    process.stdout.write(`${clock(at)} tick failed: HTTP ${reply.httpStatus} ${JSON.stringify(b)}\n`);
    return { ok: false };
  }
  const summary = await readStatusSummary(db).catch(() => undefined);
  const errors = Array.isArray(b.errors) ? (b.errors as { stage?: string; message?: string; campaign_id?: string }[]) : [];
  const active = summary ? `${summary.activeCalls}/${summary.globalCap}` : '?';
  const completed = summary ? String(summary.completedLastDay) : '?';
  const runId = b.run_id === undefined || b.run_id === null ? undefined : String(b.run_id);
  const continuesUntil = typeof b.continues_until === 'string' ? new Date(b.continues_until) : null;
  const goesOn = runId !== undefined && continuesUntil !== null && Number.isFinite(continuesUntil.getTime());
  if (goesOn) underWay.set(runId, { id: runId, launchedByAnswer: n(b.launched), continuesUntil: continuesUntil! });
  process.stdout.write(
    `${clock(at)} tick #${runId ?? '-'} launched=${n(b.launched)}${goesOn ? ' so far' : ''} active=${active} ` +
      `completed=${completed} errors=${errors.length} status=${String(b.status ?? `http_${reply.httpStatus}`)}` +
      `${goesOn ? ` (dispatching until ${clock(continuesUntil!)}; its total follows when it is done)` : ''}\n`,
  );
  for (const e of errors.slice(0, 3)) {
    const where = e.campaign_id ? ` campaign ${e.campaign_id}` : '';
    process.stdout.write(`         ! ${e.stage ?? 'error'}${where}: ${e.message ?? JSON.stringify(e)}\n`);
  }
  if (errors.length > 3) process.stdout.write(`         ! ... and ${errors.length - 3} more (see the dashboard)\n`);
  return { ok, ...(runId !== undefined ? { runId } : {}) };
}

/** Resolves at the next multiple of intervalMs (on the minute for 60 s), or when aborted. */
function sleepUntilNextSlot(intervalMs: number, signal: AbortSignal): Promise<void> {
  const now = Date.now();
  const next = Math.floor(now / intervalMs) * intervalMs + intervalMs;
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, next - now + 20);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls a previous run left dialling, ringing or in progress were carried by that run's simulator,
 * which is gone: no status callback will ever come for them, and they would hold their campaigns'
 * slots until the reaper's timeouts (up to max_call_duration). End them the way a provider's
 * final callback would (apply_call_status: canceled; the contact is retried if attempts remain).
 */
async function endCallsOfPreviousRun(db: pg.Client, startedAt: Date): Promise<number> {
  const { rows } = await db.query<{ r: string }>(
    `select public.apply_call_status(c.id, c.provider, null, 'canceled', null, null) as r
       from public.calls c
      where c.status in ('dialing', 'unknown', 'ringing', 'in_progress')
        and coalesce(c.dialed_at, c.queued_at) < $1
      order by c.id`,
    [startedAt],
  );
  return rows.filter((row) => row.r === 'applied').length;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`[start] ${s}\n`);

  const logs = new Map<string, WriteStream>();
  if (!opts.once) await mkdir(LOG_DIR, { recursive: true });
  const serviceLog = (service: string, line: string) => {
    if (opts.verbose) process.stderr.write(`[${service}] ${line}\n`);
    if (opts.once) return;
    let stream = logs.get(service);
    if (!stream) {
      stream = createWriteStream(path.join(LOG_DIR, `${service}.log`), { flags: 'a' });
      logs.set(service, stream);
    }
    stream.write(`${line}\n`);
  };

  // Signals: finish the tick in flight, then stop everything in order. Another one, a while later,
  // exits at once. (A terminal's Ctrl-C can arrive twice at once: from the terminal to the whole
  // process group, and relayed by the npm/tsx wrappers; those count as one.)
  const stopController = new AbortController();
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt) {
      if (Date.now() - firstSignalAt < 1500) return;
      process.stderr.write('second interrupt: exiting now\n');
      process.exit(130);
    }
    firstSignalAt = Date.now();
    process.stdout.write(`\n${signal} received: stopping (tick loop, Vercel route, functions, simulator, database)...\n`);
    stopController.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  await ensurePrerequisites('start', { log });
  const startedAt = new Date();
  const secrets = await localSecrets(!opts.once);
  const stack = await startStack({
    persistent: true,
    secrets,
    ports: opts.once ? {} : { functions: 54321, vercel: 3000 },
    // Calls ring 0.5-2 s and talk 2.5-20 s: short enough to see them end between two ticks.
    simulator: { timeScale: 0.5 },
    ...(process.env.TICK_JITTER_MS ? { tickJitterMs: Number(process.env.TICK_JITTER_MS) } : {}),
    ...(process.env.METRICS_TOKEN ? { metricsToken: process.env.METRICS_TOKEN } : {}),
    log,
    onServiceLog: serviceLog,
  });

  const db = new pg.Client({ connectionString: stack.databaseUrl, application_name: 'npm-start' });
  db.on('error', () => undefined);
  const shutdown = async () => {
    await db.end().catch(() => undefined);
    await stack.stop();
    for (const s of logs.values()) s.end();
  };

  try {
    if (stopController.signal.aborted) return 130;
    await db.connect();
    if (!stack.db.external) {
      const ended = await endCallsOfPreviousRun(db, startedAt);
      if (ended > 0) log(`ended ${ended} calls the previous run left in progress (its simulator is gone): status canceled`);
    }
    if (opts.seed) {
      const seeded = await seedDemoIfEmpty(stack.databaseUrl);
      if (seeded.seeded) log(`seeded ${seeded.campaigns} demo campaigns with ${seeded.contacts} contacts`);
    }

    const viaRoute = opts.intervalSeconds >= 60;
    const how = viaRoute
      ? `GET ${stack.vercelUrl}/api/scheduler/tick with the route's Bearer secret, as Vercel Cron does`
      : `POST ${stack.functionsUrl}/scheduler-tick with trigger 'local', called as the Vercel route calls it (the Vercel route allows one tick a minute)`;
    process.stdout.write(
      [
        '',
        'Campaign call scheduler is running.',
        '',
        `  Dashboard    ${stack.dashboardUrl}`,
        `  Admin token  ${stack.secrets.adminToken}`,
        `               (paste it into the dashboard's sign-in form${opts.once ? '' : '; kept in .local/dev-secrets.json'})`,
        `               named tokens per operator: the dashboard's "Operator tokens", or npm run operator -- create <name> --role operator`,
        ...sessionLines(stack),
        `  Metrics      ${stack.functionsUrl}/scheduler-metrics: ${
          process.env.METRICS_TOKEN
            ? 'with Authorization: Bearer $METRICS_TOKEN'
            : 'closed (401); start with METRICS_TOKEN=<token> to scrape them'
        }`,
        `  Functions    ${stack.functionsUrl}/{scheduler-tick,scheduler-admin,scheduler-metrics,call-status}`,
        `  Simulator    ${stack.simulator.url}  (Twilio-compatible: calls are not real)`,
        `  Database     ${redactUrl(stack.databaseUrl)}`,
        `  Functions DB ${
          stack.poolerUrl ? `${redactUrl(stack.poolerUrl)} (PgBouncer, transaction mode)` : 'direct (DB_DIRECT=1)'
        }`,
        ...(opts.once ? [] : [`  Logs         ${path.relative(process.cwd(), LOG_DIR) || LOG_DIR}/{functions,vercel}.log`]),
        '',
        opts.once
          ? `One tick: ${how}.`
          : `Ticking every ${opts.intervalSeconds} s${opts.intervalSeconds === 60 ? ' on the minute' : ''}: ${how}.\n` +
            'pg_cron also reserves calls every minute inside the database. Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );

    let lastOk = true;
    const underWay = new Map<string, RunUnderWay>();
    while (!stopController.signal.aborted) {
      await reportFinishedRuns(db, underWay, 0);
      const tick = await tickAndReport(stack, db, viaRoute, underWay);
      lastOk = tick.ok;
      if (opts.once) {
        // Its run goes on after the answer: wait for it to finish (it stops by continues_until), so
        // the done line gives the whole run's totals and no dispatcher is cut off by the exit.
        const run = tick.runId === undefined ? undefined : underWay.get(tick.runId);
        if (run) await reportFinishedRuns(db, underWay, Math.max(0, run.continuesUntil.getTime() - Date.now()) + 15_000);
        break;
      }
      await reportFinishedRuns(db, underWay, 10_000, tick.runId);
      await sleepUntilNextSlot(opts.intervalSeconds * 1000, stopController.signal);
    }
    if (opts.once) return lastOk ? 0 : 1;
    return 0;
  } finally {
    await shutdown();
    if (!opts.once) process.stdout.write('Stopped. The database keeps its data in .local/: npm start resumes from here.\n');
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
