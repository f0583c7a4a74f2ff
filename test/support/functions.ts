// The real Edge Functions and the provider for a test: the Deno gateway (scripts/stack/functions-serve.ts)
// as a child process on a free loopback port, with the environment a test chooses (each function's
// own index.ts in its own worker, as Supabase runs them); the Twilio simulator; and the requests a
// test sends them: ticks, signed status callbacks. The gateway's JSON log lines are captured so tests
// can look for events and for leaked secrets. Nothing here imitates a component.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DENO_BIN, gatewayArgs } from '../../scripts/stack/gateway-command.ts';
import { killOnExit, stopChild } from '../../scripts/stack/processes.ts';
import { type SimOptions, startTwilioSimulator, type TwilioSimulator } from '../../scripts/twilio-sim/server.ts';
import { computeTwilioSignature } from '../../supabase/functions/_shared/twilio.ts';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { connect, disableCronJobs, functionsDbUrl } from './db.ts';
import { type HttpAnswer, request } from './net.ts';

export type { TwilioSimulator };

// ---------------------------------------------------------------------------------------------
// The gateway

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Gateway {
  url: string; // http://127.0.0.1:PORT/functions/v1
  logs: string[];
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Parsed JSON log lines with the given event name. */
  events(event: string): Array<Record<string, unknown>>;
}

export interface GatewayOptions {
  /** Serve the functions of this folder instead of supabase/functions (scratch functions in a test). */
  functionsDir?: string;
}

export async function startGateway(env: Record<string, string | undefined>, opts: GatewayOptions = {}): Promise<Gateway> {
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DENO_DIR: process.env.DENO_DIR,
    // Deno fetches the npm: imports on first use; behind a TLS-inspecting proxy its bundled roots
    // are not enough, so it also trusts the system store (SSL_CERT_FILE/DIR where set).
    DENO_TLS_CA_STORE: process.env.DENO_TLS_CA_STORE ?? 'mozilla,system',
    SSL_CERT_FILE: process.env.SSL_CERT_FILE,
    SSL_CERT_DIR: process.env.SSL_CERT_DIR,
    HTTPS_PROXY: process.env.HTTPS_PROXY,
    // `npm test --clock-offset`: the functions run on the same shifted clock as the database.
    LD_PRELOAD: process.env.LD_PRELOAD,
    FAKETIME: process.env.FAKETIME,
    FAKETIME_DONT_FAKE_MONOTONIC: process.env.FAKETIME_DONT_FAKE_MONOTONIC,
    NO_COLOR: '1',
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const child = spawn(
    DENO_BIN,
    gatewayArgs(0, opts.functionsDir ? { functionsDir: opts.functionsDir } : {}),
    { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // A worker that dies mid-file (timeout, crash) leaves no gateway behind.
  killOnExit(child);
  const logs: string[] = [];
  let buffer = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${logs.join('\n')}`)), 60_000);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        logs.push(line);
        if (line.includes('"functions_listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line).url as string);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  return {
    url,
    logs,
    child,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, 5000, signal),
    events: (event: string) => jsonEvents(logs, event),
  };
}

/** The JSON lines among log lines that carry the given event name, parsed. */
function jsonEvents(lines: string[], event: string): Array<Record<string, unknown>> {
  return lines
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((o) => o.event === event);
}

/**
 * JSON log lines of one event written after `mark` (an index into gw.logs taken earlier). Run and
 * call ids restart at 1 after resetData(), so a test looks only at its own lines.
 */
export function eventsSince(gw: Gateway, mark: number, event: string): Array<Record<string, unknown>> {
  return jsonEvents(gw.logs.slice(mark), event);
}

// ---------------------------------------------------------------------------------------------
// The environment: secrets, the database, the simulator as Twilio

/** A random secret of the kind an operator would configure (32 hex characters, after `label-` when given). */
export function randomSecret(label?: string): string {
  const hex = randomBytes(16).toString('hex');
  return label ? `${label}-${hex}` : hex;
}

export interface SimLike {
  url: string;
  accountSid: string;
  authToken: string;
}

/**
 * The Edge Functions' environment for a test: the simulator as Twilio, fresh CRON_SECRET and
 * ADMIN_TOKEN, the database through the pooler (functionsDbUrl), ALLOW_INSECURE_URLS=1 (the
 * simulator and the gateway are http://127.0.0.1). `extra` overrides any of it
 * (undefined leaves a variable out).
 */
export function functionsEnv(
  sim: SimLike,
  extra: Record<string, string | undefined> = {},
  databaseUrl = functionsDbUrl(),
): Record<string, string | undefined> {
  return {
    SUPABASE_DB_URL: databaseUrl,
    CRON_SECRET: randomSecret('cron'),
    ADMIN_TOKEN: randomSecret('admin'),
    TWILIO_ACCOUNT_SID: sim.accountSid,
    TWILIO_AUTH_TOKEN: sim.authToken,
    TWILIO_API_BASE_URL: sim.url,
    TICK_JITTER_MS: '0',
    // The simulator and the gateway listen on http://127.0.0.1.
    ALLOW_INSECURE_URLS: '1',
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// The simulator

/** Simulator outcome weights under which every call is answered and completes. */
export const ALL_COMPLETED = { completed: 1, 'no-answer': 0, busy: 0, failed: 0 } as const;

/** The simulator with fast calls (timeScale small), seeded, callbacks on. */
export function startSim(opts: SimOptions = {}): Promise<TwilioSimulator> {
  return startTwilioSimulator({ timeScale: 0.005, seed: 7, ...opts });
}

// ---------------------------------------------------------------------------------------------
// Requests

/** POST /scheduler-tick with the secret as a bearer token (and an optional JSON body). */
export function postTick(gw: { url: string }, secret: string, body?: Record<string, unknown>): Promise<HttpAnswer> {
  return request(`${gw.url}/scheduler-tick`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

/** A 'local' tick that never throws: a dead gateway (or no answer within timeoutMs) gives status 0. */
export async function tick(
  functionsUrl: string,
  cronSecret: string,
  timeoutMs = 60_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const a = await request(`${functionsUrl}/scheduler-tick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cronSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ trigger: 'local' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = a.json !== null && typeof a.json === 'object' ? (a.json as Record<string, unknown>) : { text: a.text };
    return { status: a.status, body };
  } catch (err) {
    return { status: 0, body: { error: err instanceof Error ? err.message : String(err) } };
  }
}

export interface SignedCallback {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** A status callback for call-status (`?call_id=` unless callId is null), signed as Twilio signs it. */
export async function signedCallback(
  authToken: string,
  functionsUrl: string,
  callId: string | null,
  params: Record<string, string>,
): Promise<SignedCallback> {
  const url = `${functionsUrl}/call-status${callId === null ? '' : `?call_id=${encodeURIComponent(callId)}`}`;
  const form = new URLSearchParams(params);
  const signature = await computeTwilioSignature(authToken, url, form);
  return {
    url,
    body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
  };
}

/**
 * POSTs a status callback to call-status<query>, signed as Twilio signs it (over the full URL and
 * the sorted POST parameters); `signatureFor` / `signature` forge it.
 */
export async function postSignedCallback(
  gw: { url: string },
  authToken: string,
  query: string,
  params: Record<string, string>,
  opts: { signatureFor?: { query?: string; params?: Record<string, string>; token?: string }; signature?: string } = {},
): Promise<HttpAnswer> {
  const url = `${gw.url}/call-status${query}`;
  const signedUrl = `${gw.url}/call-status${opts.signatureFor?.query ?? query}`;
  const signature = opts.signature ??
    (await computeTwilioSignature(opts.signatureFor?.token ?? authToken, signedUrl, opts.signatureFor?.params ?? params));
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  });
}

/** True when a text (a response body, a log line) looks like it carries a stack trace or source locations. */
export function looksLikeStackTrace(text: string): boolean {
  return /\n\s+at\s|\bat\s+\S+\s+\(?(file|ext|node):|\bat\s+\S+\s+\(|\.ts:\d+|\.js:\d+|file:\/\/|Error:\s.*\n/.test(text);
}

// ---------------------------------------------------------------------------------------------
// The stack most function tests start: the database, the Twilio simulator, the Deno gateway

/** What useFunctionsStack() started, readable once its beforeAll has run. */
export interface FunctionsStack {
  readonly db: pg.Client;
  readonly sim: TwilioSimulator;
  readonly gw: Gateway;
  readonly env: Record<string, string | undefined>;
}

/**
 * Starts, for the test file: a database client (pg_cron's jobs off, so nothing ticks behind the
 * test's back), the Twilio simulator (`sim` options) and the gateway serving the functions against
 * both (`env` added to functionsEnv's); stops them after the file. Call it at the top of a file.
 */
export function useFunctionsStack(opts: { sim?: SimOptions; env?: Record<string, string | undefined> } = {}): FunctionsStack {
  let started: { db: pg.Client; sim: TwilioSimulator; gw: Gateway; env: Record<string, string | undefined> } | null = null;
  const get = () => {
    if (!started) throw new Error('the functions stack is not started yet (use it inside a test or hook)');
    return started;
  };
  beforeAll(async () => {
    const db = await connect();
    await disableCronJobs(db);
    const sim = await startSim(opts.sim);
    const env = functionsEnv(sim, opts.env);
    const gw = await startGateway(env);
    started = { db, sim, gw, env };
  });
  afterAll(async () => {
    const s = started;
    started = null;
    await s?.gw.stop('SIGKILL');
    await s?.sim.close();
    await s?.db.end();
  });
  return {
    get db() {
      return get().db;
    },
    get sim() {
      return get().sim;
    },
    get gw() {
      return get().gw;
    },
    get env() {
      return get().env;
    },
  };
}
