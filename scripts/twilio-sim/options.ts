// The simulator's options: what startTwilioSimulator() accepts (SimOptions), the same resolved with
// their defaults once at start (SimConfig), and the command-line flags that map onto them.

import type { PlatformOrganisation } from './platform.ts';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  DEFAULT_OUTCOME_WEIGHTS,
  DEFAULT_TIMING,
  isLoopbackHost,
  mergeFaults,
  type NumberRule,
  type SimFaults,
  type SimOutcome,
  type SimTiming,
} from './core.ts';

export interface SimOptions {
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** A loopback address (default 127.0.0.1); anything else is refused. */
  host?: string;
  /** Default: AC + 32 random hex digits. */
  accountSid?: string;
  /** Default: 32 random hex digits. */
  authToken?: string;
  /**
   * Subaccounts of the main account (SID -> auth token): calls are created under
   * /Accounts/{subaccount}/Calls.json with the main account's credentials, and their status
   * callbacks carry the subaccount's AccountSid and are signed with its token, as Twilio does.
   */
  subaccounts?: Record<string, string>;
  /** Seeds every decision (faults, outcomes, timing). Default: random. */
  seed?: number;
  /** Multiplies every simulated duration (ring, talk, no-answer timeout): 0.01 is 100 times faster. Default 1. */
  timeScale?: number;
  /** Relative weights of call outcomes. Default completed 60, no-answer 20, busy 10, failed 10. */
  outcomes?: Partial<Record<SimOutcome, number>>;
  /** Durations before scaling, ms. */
  timing?: Partial<SimTiming>;
  /** Shorthands for timing.ringMs / timing.talkMs. */
  ringMs?: [number, number];
  talkMs?: [number, number];
  /** Shorthand for timing.noAnswerMs: how long a no-answer rings (default: the request's Timeout). */
  noAnswerMs?: [number, number];
  /** More To numbers refused as invalid (code 21217), besides Twilio's test numbers. */
  invalidNumbers?: string[];
  /** Send status callbacks at all (default true; off for pure throughput runs). */
  callbacks?: boolean;
  /** How long a status callback may take before it counts as failed (default 15000 ms, as Twilio). */
  callbackTimeoutMs?: number;
  /** Fault settings in force from the start (and after reset()). */
  faults?: SimFaults;
  /**
   * The Vapi part (vapi.ts: POST /call, GET /call/{id} on the same port): its private key (default
   * random), the server URL its server messages go to (none: no messages) and the secret they carry.
   */
  vapi?: {
    apiKey?: string;
    serverUrl?: string;
    serverSecret?: string;
    outcomes?: Partial<Record<string, number>>;
    /** More organisations, each with its own private key and server secret (eventKey). */
    organisations?: Record<string, PlatformOrganisation>;
  };
  /**
   * The Retell part (retell.ts: POST /v2/create-phone-call, GET /v2/get-call/{id}): its API key and
   * webhook URL, and more organisations, each with its own API key (and webhook key, default the API key).
   */
  retell?: {
    apiKey?: string;
    webhookUrl?: string;
    outcomes?: Partial<Record<string, number>>;
    organisations?: Record<string, PlatformOrganisation>;
  };
  /** Receives one object per notable event (create, fault, callback); default: nothing. */
  log?: (event: Record<string, unknown>) => void;
}

/** SimOptions with every default filled in: the Twilio part's settings, fixed for its lifetime. */
export interface SimConfig {
  port: number;
  host: string;
  accountSid: string;
  authToken: string;
  /** The Authorization header every REST request must carry (the main account's credentials). */
  expectedAuth: Buffer;
  subaccounts: Record<string, string>;
  /** The seed at start (reset() may switch to another: SimState.seed). */
  seed: number;
  timeScale: number;
  timing: SimTiming;
  weights: Record<SimOutcome, number>;
  /** Number rules from invalidNumbers. */
  extraRules: NumberRule[];
  sendCallbacks: boolean;
  callbackTimeoutMs: number;
  /** The fault settings reset() goes back to. */
  startFaults: SimFaults;
  log: (event: Record<string, unknown>) => void;
}

/** Fills in the defaults; throws on a host that is not loopback, a bad timeScale or bad faults. */
export function resolveOptions(opts: SimOptions): SimConfig {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error(`the simulator listens on loopback only, not ${host}`);
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = opts.authToken ?? randomBytes(16).toString('hex');
  const seed = opts.seed ?? randomBytes(4).readUInt32LE(0);
  const timeScale = opts.timeScale ?? 1;
  if (!(timeScale >= 0) || !Number.isFinite(timeScale)) throw new Error('timeScale must be a finite number >= 0');
  const timing: SimTiming = {
    ...DEFAULT_TIMING,
    ...(opts.ringMs ? { ringMs: opts.ringMs } : {}),
    ...(opts.talkMs ? { talkMs: opts.talkMs } : {}),
    ...(opts.noAnswerMs ? { noAnswerMs: opts.noAnswerMs } : {}),
    ...opts.timing,
  };
  const weights = { ...DEFAULT_OUTCOME_WEIGHTS, ...opts.outcomes };
  const extraRules: NumberRule[] = (opts.invalidNumbers ?? []).map((n) => ({
    match: n,
    field: 'To',
    reject: { code: 21217, message: 'Phone number is not a valid phone number' },
  }));
  return {
    port: opts.port ?? 0,
    host,
    accountSid,
    authToken,
    expectedAuth: Buffer.from(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`),
    subaccounts: { ...opts.subaccounts },
    seed,
    timeScale,
    timing,
    weights,
    extraRules,
    sendCallbacks: opts.callbacks ?? true,
    callbackTimeoutMs: opts.callbackTimeoutMs ?? 15_000,
    startFaults: mergeFaults({}, opts.faults ?? {}),
    log: opts.log ?? (() => {}),
  };
}

/** The auth token of the account that owns a call: it signs the call's callbacks. */
export function tokenOf(config: SimConfig, sid: string): string {
  return Object.hasOwn(config.subaccounts, sid) ? config.subaccounts[sid]! : config.authToken;
}

// --- CLI ---------------------------------------------------------------------------------------

export const USAGE = `usage: tsx scripts/twilio-sim/server.ts [--port N] [--host 127.0.0.1] [--seed N] [--time-scale X]
       [--account-sid AC...] [--auth-token T] [--faults JSON] [--no-callbacks] [--verbose]
       [--vapi-key K] [--vapi-server-secret S] [--vapi-server-url URL] [--retell-key K] [--retell-webhook-url URL]`;

/**
 * The command line as SimOptions, or the exit code when there is nothing to start: 2 (after the
 * usage on stderr) for unknown or malformed flags, 0 (after the usage on stdout) for --help.
 * Throws on a flag whose value is not a number, or --faults that is not JSON.
 */
export function parseCli(argv: string[]): { options: SimOptions } | { exitCode: number } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        seed: { type: 'string' },
        'time-scale': { type: 'string' },
        'account-sid': { type: 'string' },
        'auth-token': { type: 'string' },
        faults: { type: 'string' },
        'no-callbacks': { type: 'boolean', default: false },
        'vapi-key': { type: 'string' },
        'vapi-server-secret': { type: 'string' },
        'vapi-server-url': { type: 'string' },
        'retell-key': { type: 'string' },
        'retell-webhook-url': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return { exitCode: 2 };
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return { exitCode: 0 };
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number`);
    return n;
  };
  const port = num('port', values.port) ?? 0;
  const seed = num('seed', values.seed);
  const timeScale = num('time-scale', values['time-scale']);
  return {
    options: {
      port,
      host: values.host,
      ...(seed !== undefined ? { seed } : {}),
      ...(timeScale !== undefined ? { timeScale } : {}),
      ...(values['account-sid'] ? { accountSid: values['account-sid'] } : {}),
      ...(values['auth-token'] ? { authToken: values['auth-token'] } : {}),
      ...(values.faults ? { faults: JSON.parse(values.faults) as SimFaults } : {}),
      callbacks: !values['no-callbacks'],
      vapi: {
        ...(values['vapi-key'] ? { apiKey: values['vapi-key'] } : {}),
        ...(values['vapi-server-secret'] ? { serverSecret: values['vapi-server-secret'] } : {}),
        ...(values['vapi-server-url'] ? { serverUrl: values['vapi-server-url'] } : {}),
      },
      retell: {
        ...(values['retell-key'] ? { apiKey: values['retell-key'] } : {}),
        ...(values['retell-webhook-url'] ? { webhookUrl: values['retell-webhook-url'] } : {}),
      },
      ...(values.verbose ? { log: (e: Record<string, unknown>) => process.stderr.write(`${JSON.stringify(e)}\n`) } : {}),
    },
  };
}
