// The whole system on one machine, for `npm start` and the end-to-end tests:
//
//   PostgreSQL (local cluster, persistent or throwaway, or DATABASE_URL / databaseUrl)
//     └─ Supabase shape + migrations (real Supabase CLI)
//   PgBouncer in transaction mode in front of it (scripts/stack/pgbouncer.ts), as Supabase's
//     pooler on port 6543: the functions get its URL as SUPABASE_DB_URL (DB_DIRECT=1: the direct URL)
//   Twilio simulator (scripts/twilio-sim/server.ts): create-call API, signed status callbacks
//   Edge Functions gateway (real Deno, scripts/stack/functions-serve.ts: each function's index.ts in its own worker): /functions/v1/<name>
//     (with SUPABASE_JWT_SECRET: the stack mints a local operator's Supabase Auth session, operatorSession())
//   local Vercel (scripts/stack/vercel-local.ts): the `vercel build` output: dashboard, /api/scheduler/tick,
//     /api/dashboard-config
//
// startStack() resolves once everything answers; stop() stops it in reverse order (the Vercel
// route first, so nothing new reaches the functions, then the functions, the simulator and the
// database). Children are also killed if this process exits without calling stop().

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { bootstrapSupabaseShape, type LocalDb, pushMigrations, REPO_ROOT, startLocalDb } from './localdb.ts';
import { startPgBouncer } from './pgbouncer.ts';
import { startVercelLocal } from './vercel-local.ts';
import { freePort, killOnExit, portIsFree, stopChild } from './processes.ts';
import { DENO_BIN, gatewayArgs } from './gateway-command.ts';
import { createFunctionsCaller, type InvokeResult } from '../../api/_lib/functions-client.ts';
import { startTwilioSimulator } from '../twilio-sim/server.ts';
import { mintSupabaseJwt, type SessionClaims } from './operator-jwt.ts';

export type TwilioSimulator = Awaited<ReturnType<typeof startTwilioSimulator>>;
export type TwilioSimulatorOptions = NonNullable<Parameters<typeof startTwilioSimulator>[0]>;

export type StackService = 'functions' | 'vercel';

export interface StackSecrets {
  /** The Edge Functions' CRON_SECRET (scheduler-tick); the Vercel route forwards with it. */
  cronSecret: string;
  /** The Edge Functions' ADMIN_TOKEN: the dashboard operator signs in with it. */
  adminToken: string;
  /** The Vercel route's own CRON_SECRET: what Vercel Cron sends to /api/scheduler/tick. */
  routeSecret: string;
  /**
   * The functions' SUPABASE_JWT_SECRET (the project's JWT secret): the stack mints Supabase Auth
   * sessions for a local operator user with it (Stack.operatorSession), as GoTrue would.
   */
  jwtSecret: string;
}

/** The local operator user the stack mints sessions for (GoTrue is not run here). */
export const LOCAL_OPERATOR = { sub: '6f1d3c2a-0b4e-4c8d-9a7f-1e2d3c4b5a60', email: 'operator@localhost.test' } as const;
/** How long a minted local session is valid (GoTrue's default is 1 hour; a local demo runs longer). */
export const LOCAL_SESSION_TTL_SECONDS = 24 * 3600;

export interface StackOptions {
  /** Persistent cluster in .local/ (npm start) or a throwaway one (default). */
  persistent?: boolean;
  /** Use this database and start no cluster (otherwise DATABASE_URL, else a local cluster). */
  databaseUrl?: string;
  /** Shape the database like Supabase and push the migrations (default true; idempotent). */
  migrate?: boolean;
  /**
   * The functions reach the database directly instead of through PgBouncer in transaction mode
   * (default: env DB_DIRECT=1; otherwise PgBouncer is started, or poolerUrl used).
   */
  direct?: boolean;
  /** A transaction-mode pooler already running in front of the database: use it, start none. */
  poolerUrl?: string;
  /** Secrets to use; the missing ones are generated. */
  secrets?: Partial<StackSecrets>;
  /** Passed to startTwilioSimulator. */
  simulator?: TwilioSimulatorOptions;
  /** Preferred ports (used when free, else the OS picks one). 0 or unset: the OS picks. */
  ports?: { functions?: number; vercel?: number };
  /** TICK_JITTER_MS of the functions (default 0). */
  tickJitterMs?: number;
  /** METRICS_TOKEN of the functions (unset: the metrics answer 401 metrics_closed). */
  metricsToken?: string;
  /** Progress messages. Default: stderr with a [stack] prefix. */
  log?: (message: string) => void;
  /** Log lines of the child services (structured JSON from the functions). Default: dropped. */
  onServiceLog?: (service: StackService, line: string) => void;
}

export interface TickReply {
  /** HTTP status of the tick request. */
  httpStatus: number;
  /** The scheduler-tick JSON (run_id, status, launched, reserved, errors, ...) or an error body. */
  body: Record<string, unknown>;
}

export interface Stack {
  db: LocalDb;
  databaseUrl: string;
  /** The URL the functions use: PgBouncer's (transaction mode), or databaseUrl when direct. */
  functionsDatabaseUrl: string;
  /** PgBouncer's URL, or null when the functions connect directly. */
  poolerUrl: string | null;
  simulator: TwilioSimulator;
  /** http://127.0.0.1:PORT/functions/v1 */
  functionsUrl: string;
  /** The local Vercel deployment: the dashboard at / and the API under /api. */
  vercelUrl: string;
  dashboardUrl: string;
  secrets: StackSecrets;
  /**
   * A Supabase Auth access token (HS256, signed with secrets.jwtSecret) of the local operator user
   * (LOCAL_OPERATOR, app_metadata.role 'admin': the local developer holds every role; valid
   * LOCAL_SESSION_TTL_SECONDS): it signs in to the dashboard and the admin API like a real project's
   * session. Claims may be overridden (tests: appRole 'viewer' or 'operator' for the lower roles).
   */
  operatorSession(claims?: SessionClaims): string;
  /** A tick exactly as Vercel Cron sends it: GET /api/scheduler/tick, Bearer routeSecret. */
  tickViaRoute(): Promise<TickReply>;
  /** A tick straight to the scheduler-tick function with trigger 'local' (not deduplicated per minute). */
  tickLocal(): Promise<TickReply>;
  /** Stops everything this call started, in order. Safe to call twice. */
  stop(): Promise<void>;
}

const defaultLog = (s: string) => process.stderr.write(`[stack] ${s}\n`);

/** A secret the functions accept (32 random bytes, 43 characters: see weakSecretProblem). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

async function pickPort(preferred: number | undefined): Promise<number> {
  if (preferred && (await portIsFree(preferred))) return preferred;
  return 0;
}

interface Gateway {
  url: string;
  child: ChildProcess;
}

/** Starts the Deno functions gateway; resolves with its /functions/v1 URL once it listens. */
async function startGateway(
  env: Record<string, string>,
  port: number,
  onLog: (line: string) => void,
  timeoutMs = 180_000,
): Promise<Gateway> {
  // The functions see only their own settings, plus what Deno itself needs (PATH, HOME, its cache,
  // npm registry and proxy settings; a preloaded libfaketime and its FAKETIME settings, so that
  // under `npm test --clock-offset` they share the test database's shifted clock): no DATABASE_URL
  // or other secrets of this process leak in. Deno also trusts the system certificate store (behind
  // a TLS-inspecting proxy its bundled roots cannot fetch the npm: imports).
  const childEnv: NodeJS.ProcessEnv = { NO_COLOR: '1', DENO_TLS_CA_STORE: 'mozilla,system' };
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v !== undefined &&
      /^(PATH|HOME|TMPDIR|TZ|LANG|LC_[A-Z]+|DENO_[A-Z_]+|NPM_CONFIG_[A-Z_]+|SSL_CERT_(FILE|DIR)|(HTTPS?|NO)_PROXY|LD_PRELOAD|FAKETIME[A-Z_]*)$/i
        .test(k)
    ) {
      childEnv[k] = v;
    }
  }
  Object.assign(childEnv, env);
  const child = spawn(DENO_BIN, gatewayArgs(port), {
    cwd: REPO_ROOT,
    env: childEnv,
    // Own process group: a Ctrl-C in the terminal reaches npm start, which stops us in order.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 40) recent.shift();
    onLog(line);
  };
  createInterface({ input: child.stderr! }).on('line', remember);
  const stdout = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`the Edge Functions gateway did not start: ${why}\n${recent.join('\n')}`));
    };
    const timer = setTimeout(() => fail(`no functions_listening line within ${timeoutMs / 1000} s`), timeoutMs);
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`deno exited with ${signal ?? code}`));
    stdout.on('line', (line) => {
      if (!settled) {
        try {
          const msg = JSON.parse(line) as { event?: string; url?: string };
          if (msg.event === 'functions_listening' && msg.url) {
            settled = true;
            clearTimeout(timer);
            resolve(msg.url);
            return;
          }
        } catch {
          // a log line
        }
      }
      remember(line);
    });
  });
  return { url, child };
}

async function postTick(url: string, init: RequestInit): Promise<TickReply> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    body = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : { value: parsed };
  } catch {
    body = { error: text.slice(0, 200) || `HTTP ${res.status}` };
  }
  return { httpStatus: res.status, body };
}

/** A function's answer as a TickReply; a call that got no answer throws (as fetch would). */
function tickReply(r: InvokeResult): TickReply {
  if (!r.answered) throw new Error(r.timedOut ? 'the tick timed out' : r.error);
  const body = r.json === undefined
    ? { error: r.text.slice(0, 200) || `HTTP ${r.status}` }
    : r.json && typeof r.json === 'object'
    ? (r.json as Record<string, unknown>)
    : { value: r.json };
  return { httpStatus: r.status, body };
}

/** Starts the whole stack. On failure, stops whatever it had started and rethrows. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? defaultLog;
  const onServiceLog = opts.onServiceLog ?? (() => {});
  const secrets: StackSecrets = {
    cronSecret: opts.secrets?.cronSecret ?? generateSecret(),
    adminToken: opts.secrets?.adminToken ?? generateSecret(),
    routeSecret: opts.secrets?.routeSecret ?? generateSecret(),
    jwtSecret: opts.secrets?.jwtSecret ?? generateSecret(),
  };
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    for (const s of stops.reverse()) {
      try {
        await s.stop();
      } catch (err) {
        log(`stopping ${s.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  try {
    // 1. The database.
    let db: LocalDb;
    if (opts.databaseUrl) {
      const u = new URL(opts.databaseUrl);
      log(`using database ${u.hostname}:${u.port || 5432}${u.pathname}`);
      db = { url: opts.databaseUrl, port: Number(u.port || 5432), dir: '', external: true, stop: async () => {} };
    } else {
      db = await startLocalDb({ persistent: opts.persistent ?? false, log });
    }
    stops.push({ name: 'database', stop: () => db.stop() });
    if (opts.migrate ?? true) {
      await bootstrapSupabaseShape(db.url);
      await pushMigrations(db.url, { log });
    }

    // 1b. The pooler between the functions and the database (migrations and tools stay direct).
    let poolerUrl: string | null = null;
    if (!(opts.direct ?? process.env.DB_DIRECT === '1')) {
      if (opts.poolerUrl) {
        poolerUrl = opts.poolerUrl;
      } else {
        const bouncer = await startPgBouncer({ databaseUrl: db.url, ...(db.dir ? { dir: db.dir } : {}), log });
        stops.push({ name: 'PgBouncer', stop: () => bouncer.stop() });
        poolerUrl = bouncer.url;
      }
    } else {
      log('the functions connect to the database directly (DB_DIRECT=1)');
    }
    const functionsDatabaseUrl = poolerUrl ?? db.url;

    // 2. The Twilio simulator (its status callbacks go to the URL each create-call request names:
    //    the gateway's call-status function).
    const simulator = await startTwilioSimulator(opts.simulator ?? {});
    stops.push({ name: 'simulator', stop: () => simulator.close() });
    log(`Twilio simulator on ${simulator.url}`);

    // 3. The Edge Functions gateway (real Deno).
    const gatewayEnv: Record<string, string> = {
      SUPABASE_DB_URL: functionsDatabaseUrl,
      CRON_SECRET: secrets.cronSecret,
      ADMIN_TOKEN: secrets.adminToken,
      SUPABASE_JWT_SECRET: secrets.jwtSecret,
      TWILIO_ACCOUNT_SID: simulator.accountSid,
      TWILIO_AUTH_TOKEN: simulator.authToken,
      TWILIO_API_BASE_URL: simulator.url,
      // Vapi and Retell accounts dial the simulator's Vapi and Retell parts (docs/PROVIDERS.md).
      VAPI_API_KEY: simulator.vapi.apiKey,
      VAPI_API_BASE_URL: simulator.url,
      VAPI_SERVER_SECRET: simulator.vapi.serverSecret,
      RETELL_API_KEY: simulator.retell.apiKey,
      RETELL_API_BASE_URL: simulator.url,
      TICK_JITTER_MS: String(opts.tickJitterMs ?? 0),
      // Local development: the simulator and the functions listen on http://127.0.0.1.
      ALLOW_INSECURE_URLS: '1',
      // Local development: webhook receivers on this machine (http://127.0.0.1) are allowed.
      WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
    };
    if (opts.metricsToken) gatewayEnv.METRICS_TOKEN = opts.metricsToken;
    // CORS: the functions answer the dashboard's origin only (the local Vercel server, whose port
    // is chosen now).
    const vercelPort = (await pickPort(opts.ports?.vercel)) || (await freePort());
    gatewayEnv.DASHBOARD_ORIGIN = `http://127.0.0.1:${vercelPort},http://localhost:${vercelPort}`;
    const gateway = await startGateway(
      gatewayEnv,
      await pickPort(opts.ports?.functions),
      (line) => onServiceLog('functions', line),
    );
    stops.push({ name: 'functions gateway', stop: () => stopChild(gateway.child, 10_000) });
    // Where a Vapi assistant's server URL and a Retell agent's webhook would point.
    simulator.vapi.setEventUrl(`${gateway.url}/call-status/vapi`);
    simulator.retell.setEventUrl(`${gateway.url}/call-status/retell`);
    log(`Edge Functions on ${gateway.url} (deno pid ${gateway.child.pid})`);

    // 4. The local Vercel deployment: dashboard + API routes.
    const vercel = await startVercelLocal({
      env: {
        CRON_SECRET: secrets.routeSecret,
        CRON_SECRET_PREVIOUS: undefined,
        SCHEDULER_TICK_URL: `${gateway.url}/scheduler-tick`,
        SCHEDULER_TICK_SECRET: secrets.cronSecret,
        ALLOW_INSECURE_URLS: '1',
        SUPABASE_FUNCTIONS_URL: gateway.url,
        DATABASE_URL: undefined,
      },
      port: vercelPort,
      onLog: (line) => onServiceLog('vercel', line),
    });
    stops.push({ name: 'local Vercel', stop: () => vercel.close() });
    log(`local Vercel on ${vercel.url} (node pid ${vercel.pid})`);

    // Straight to the function, as the Vercel route does it (api/_lib/functions-client.ts).
    const invokeAsCron = createFunctionsCaller({
      functionsUrl: gateway.url,
      secret: secrets.cronSecret,
      timeoutMs: 60_000,
      userAgent: 'campaign-scheduler-local',
    });

    return {
      db,
      databaseUrl: db.url,
      functionsDatabaseUrl,
      poolerUrl,
      simulator,
      functionsUrl: gateway.url,
      vercelUrl: vercel.url,
      dashboardUrl: `${vercel.url}/`,
      secrets,
      operatorSession: (claims = {}) =>
        mintSupabaseJwt(secrets.jwtSecret, {
          sub: LOCAL_OPERATOR.sub,
          email: LOCAL_OPERATOR.email,
          ttlSeconds: LOCAL_SESSION_TTL_SECONDS,
          appRole: 'admin',
          ...claims,
        }),
      tickViaRoute: () =>
        postTick(`${vercel.url}/api/scheduler/tick`, {
          method: 'GET',
          headers: { authorization: `Bearer ${secrets.routeSecret}`, 'user-agent': 'vercel-cron/1.0' },
        }),
      tickLocal: async () => tickReply(await invokeAsCron('scheduler-tick', { body: { trigger: 'local' } })),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface SchedulerStatusSummary {
  activeCalls: number;
  globalCap: number;
  completedLastDay: number;
  queuedCalls: number;
  breakerState: string;
}

/** The few scheduler_status numbers npm start prints after each tick. */
export async function readStatusSummary(client: Pick<pg.ClientBase, 'query'>): Promise<SchedulerStatusSummary> {
  const { rows } = await client.query<{
    active_calls: string;
    global_max_concurrent_calls: number;
    calls_completed_last_day: string;
    queued_calls: string;
    breaker_state: string;
  }>(
    `select active_calls, global_max_concurrent_calls, calls_completed_last_day, queued_calls, breaker_state
       from public.scheduler_status`,
  );
  const r = rows[0];
  return {
    activeCalls: Number(r?.active_calls ?? 0),
    globalCap: Number(r?.global_max_concurrent_calls ?? 0),
    completedLastDay: Number(r?.calls_completed_last_day ?? 0),
    queuedCalls: Number(r?.queued_calls ?? 0),
    breakerState: r?.breaker_state ?? 'closed',
  };
}
