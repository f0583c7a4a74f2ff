// The Twilio simulator's logic, without I/O: its options and fault settings (validated with zod, as
// the control API receives them), Twilio's Create Call validation, the call timeline (which status
// callbacks, when, with which parameters), a seeded PRNG and Twilio's request signature computed
// with node:crypto (independently of the adapter's crypto.subtle code, so each checks the other).
// scripts/twilio-sim/server.ts puts it behind HTTP.

import { createHmac } from 'node:crypto';
import { z } from 'zod';

export const API_VERSION = '2010-04-01';

/** How a simulated call ends (Twilio's CallStatus of the final callback). */
export type SimOutcome = 'completed' | 'no-answer' | 'busy' | 'failed';
export const SIM_OUTCOMES: readonly SimOutcome[] = ['completed', 'no-answer', 'busy', 'failed'];

/** An injected answer to one create request. 'ok' forces a normal answer. */
export type FaultKind = 'ok' | '429' | '500' | '503' | 'hang';

const rate = z.number().min(0).max(1);
const ms = z.number().min(0).max(3_600_000);
const range = z.union([ms, z.tuple([ms, ms]).refine(([lo, hi]) => lo <= hi, 'range must be [min, max]')]);

export const NumberRuleSchema = z
  .object({
    /** An exact number ('+15005550001'), '*' + a suffix ('*0000'), or '*' for every number. */
    match: z.string().min(1).max(32),
    /** The parameter the rule looks at (default To). */
    field: z.enum(['To', 'From']).optional(),
    /** Refuse the create request like Twilio: HTTP status (default 400), Twilio code, message. */
    reject: z
      .object({
        status: z.number().int().min(400).max(599).optional(),
        code: z.number().int().min(10000).max(99999),
        message: z.string().max(300).optional(),
      })
      .strict()
      .optional(),
    /** Force the call's outcome. */
    outcome: z.enum(['completed', 'no-answer', 'busy', 'failed']).optional(),
    /** AnsweredBy when the request asked for MachineDetection and the call is answered. */
    answeredBy: z.enum([
      'human',
      'machine_start',
      'machine_end_beep',
      'machine_end_silence',
      'machine_end_other',
      'fax',
      'unknown',
    ]).optional(),
  })
  .strict();
export type NumberRule = z.infer<typeof NumberRuleSchema>;

export const SimFaultsSchema = z
  .object({
    /** Delay before every API answer, ms or [min, max] (not scaled by timeScale). */
    latencyMs: range.optional(),
    /** Probabilities per create request, drawn in this order: 429, 503, 500, hang. */
    rate429: rate.optional(),
    rate503: rate.optional(),
    rate500: rate.optional(),
    hangRate: rate.optional(),
    /** Every request (also GETs and bad credentials) gets 503; nothing is created. */
    outage: z.boolean().optional(),
    /** Probability that a lookup (GET of a call or of the calls list) is answered 500. */
    lookupFailRate: rate.optional(),
    /** Retry-After of injected 429s, in seconds (default 1); 0 leaves the header out. */
    retryAfterSeconds: z.number().min(0).max(3600).optional(),
    /** Retry-After of injected 503s, in seconds (default: none). */
    retryAfterSeconds503: z.number().min(0).max(3600).optional(),
    /**
     * Whether a request answered by an injected 500, or left hanging, still creates the call (and
     * its callbacks flow). Default true: the worst case, the one a client must survive.
     */
    ambiguousCreates: z.boolean().optional(),
    /** Answers for the next create requests, one per request, before the rates. */
    script: z.array(z.enum(['ok', '429', '500', '503', 'hang'])).max(10_000).optional(),
    /** Probabilities per status callback. */
    dropCallbackRate: rate.optional(),
    duplicateCallbackRate: rate.optional(),
    /** Hold each call's callbacks and send them together at its end, out of order. */
    reorderCallbacks: z.boolean().optional(),
    /** Per-number overrides, first match wins (before the built-in Twilio test numbers). */
    numbers: z.array(NumberRuleSchema).max(1000).optional(),
  })
  .strict();
export type SimFaults = z.infer<typeof SimFaultsSchema>;

/** A partial update of SimFaults: an absent key keeps its setting, null removes it. */
export type SimFaultsPatch = { [K in keyof SimFaults]?: SimFaults[K] | null };

/** Applies a patch (as the control API receives it) and validates the result; throws on bad input. */
export function mergeFaults(current: SimFaults, patch: unknown): SimFaults {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('faults must be a JSON object');
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (!Object.prototype.hasOwnProperty.call(SimFaultsSchema.shape, k)) throw new Error(`unknown fault setting: ${k}`);
    if (v === null) delete next[k];
    else if (v !== undefined) next[k] = v;
  }
  const parsed = SimFaultsSchema.safeParse(next);
  if (!parsed.success) {
    throw new Error(`invalid faults: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export interface SimTiming {
  /** From creation to 'initiated' (Twilio dequeues the call), ms. */
  initiatedMs: [number, number];
  /** From 'initiated' to 'ringing', ms. */
  ringingMs: [number, number];
  /** Ringing before the callee answers (or the line turns out busy / fails), ms. */
  ringMs: [number, number];
  /** Talk time of an answered call, ms. */
  talkMs: [number, number];
  /**
   * How long a no-answer rings before it ends, ms (never longer than the request's Timeout).
   * Default: the request's Timeout (Twilio's own no-answer).
   */
  noAnswerMs?: [number, number];
}

export const DEFAULT_TIMING: SimTiming = {
  initiatedMs: [50, 500],
  ringingMs: [300, 2000],
  ringMs: [2000, 12000],
  talkMs: [5000, 40000],
};

/** Realistic default outcome mix of answered-or-not outbound calls. */
export const DEFAULT_OUTCOME_WEIGHTS: Readonly<Record<SimOutcome, number>> = {
  completed: 60,
  'no-answer': 20,
  busy: 10,
  failed: 10,
};

/**
 * Twilio's documented test numbers (test credentials) that fail Create Call, checked after the
 * caller's own number rules: To +15005550001 invalid (21217), +15005550002 cannot be reached
 * (21214), +15005550003 no international permission (21215), +15005550004 blocked (21216);
 * From +15005550001 invalid (21212), +15005550007 not owned by the account (21210).
 */
export const TWILIO_TEST_NUMBER_RULES: readonly NumberRule[] = [
  { match: '+15005550001', field: 'To', reject: { code: 21217, message: 'Phone number is not a valid phone number' } },
  { match: '+15005550002', field: 'To', reject: { code: 21214, message: "'To' phone number cannot be reached" } },
  { match: '+15005550003', field: 'To', reject: { code: 21215, message: 'Account not authorized to call this number' } },
  { match: '+15005550004', field: 'To', reject: { code: 21216, message: 'Call blocked for this number' } },
  { match: '+15005550001', field: 'From', reject: { code: 21212, message: "Invalid 'From' Phone Number" } },
  { match: '+15005550007', field: 'From', reject: { code: 21210, message: "'From' phone number not verified" } },
];

export function ruleMatches(rule: NumberRule, to: string, from: string): boolean {
  const value = (rule.field ?? 'To') === 'To' ? to : from;
  if (rule.match === '*') return true;
  if (rule.match.startsWith('*')) return value.endsWith(rule.match.slice(1));
  return value === rule.match;
}

export function findRule(
  rules: readonly NumberRule[],
  to: string,
  from: string,
  want: 'reject' | 'outcome',
): NumberRule | undefined {
  return rules.find((r) => (want === 'reject' ? r.reject : r.outcome || r.answeredBy) && ruleMatches(r, to, from));
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast, seeded; the same seed replays the same decisions. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function between(rng: () => number, r: number | readonly [number, number]): number {
  if (typeof r === 'number') return r;
  return r[0] + rng() * (r[1] - r[0]);
}

export function pickOutcome(rng: () => number, weights: Readonly<Record<SimOutcome, number>>): SimOutcome {
  const entries = SIM_OUTCOMES.map((o) => [o, Math.max(0, weights[o] ?? 0)] as const);
  const total = entries.reduce((a, [, w]) => a + w, 0);
  if (total <= 0) return 'completed';
  let r = rng() * total;
  for (const [o, w] of entries) {
    r -= w;
    if (r < 0) return o;
  }
  return entries.filter(([, w]) => w > 0).at(-1)?.[0] ?? 'completed';
}

// ---------------------------------------------------------------------------------------------
// Twilio shapes

export interface TwilioErrorAnswer {
  status: number;
  code: number;
  message: string;
}

export function twilioErrorBody(e: TwilioErrorAnswer): Record<string, unknown> {
  return { code: e.code, message: e.message, more_info: `https://www.twilio.com/docs/errors/${e.code}`, status: e.status };
}

/** RFC 2822 date as Twilio writes it: "Sat, 28 Nov 2026 13:45:01 +0000". */
export function rfc2822(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${
    p(d.getUTCMinutes())
  }:${p(d.getUTCSeconds())} +0000`;
}

/** Twilio's X-Twilio-Signature, computed with node:crypto (names sorted; a repeated name's values sorted). */
export function signTwilioRequest(authToken: string, url: string, params: URLSearchParams): string {
  const grouped = new Map<string, string[]>();
  for (const [k, v] of params) grouped.set(k, [...(grouped.get(k) ?? []), v]);
  let data = url;
  for (const k of [...grouped.keys()].sort()) for (const v of [...new Set(grouped.get(k))].sort()) data += k + v;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

// ---------------------------------------------------------------------------------------------
// Create Call validation

/** Every parameter of Twilio's Create Call (2010-04-01); anything else is refused. */
export const CREATE_CALL_PARAMETERS: ReadonlySet<string> = new Set([
  'To',
  'From',
  'Url',
  'Twiml',
  'ApplicationSid',
  'Method',
  'FallbackUrl',
  'FallbackMethod',
  'StatusCallback',
  'StatusCallbackEvent',
  'StatusCallbackMethod',
  'SendDigits',
  'Timeout',
  'Record',
  'RecordingChannels',
  'RecordingStatusCallback',
  'RecordingStatusCallbackMethod',
  'RecordingStatusCallbackEvent',
  'SipAuthUsername',
  'SipAuthPassword',
  'MachineDetection',
  'MachineDetectionTimeout',
  'MachineDetectionSpeechThreshold',
  'MachineDetectionSpeechEndThreshold',
  'MachineDetectionSilenceTimeout',
  'AsyncAmd',
  'AsyncAmdStatusCallback',
  'AsyncAmdStatusCallbackMethod',
  'Trim',
  'CallerId',
  'Byoc',
  'CallReason',
  'CallToken',
  'RecordingTrack',
  'TimeLimit',
]);

export const STATUS_CALLBACK_EVENTS: ReadonlySet<string> = new Set(['initiated', 'ringing', 'answered', 'completed']);

const E164 = /^\+[1-9][0-9]{1,14}$/;

export interface ValidCreateCall {
  to: string;
  from: string;
  action: { param: 'Url' | 'Twiml' | 'ApplicationSid'; value: string };
  statusCallback: string | null;
  statusCallbackMethod: 'GET' | 'POST';
  /** The events to report; Twilio's default with a StatusCallback and no events is 'completed'. */
  events: string[];
  machineDetection: string | null;
  /** Ring timeout in seconds (Twilio default 60, at most 600). */
  timeoutSeconds: number;
}

function absoluteHttpUrl(s: string): URL | null {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname ? u : null;
  } catch {
    return null;
  }
}

const bad = (code: number, message: string, status = 400): { ok: false; error: TwilioErrorAnswer } => ({
  ok: false,
  error: { status, code, message },
});

/** Twilio's checks of a Create Call request body, in the order Twilio reports them. */
export function validateCreateCall(
  contentType: string,
  body: string,
): { ok: true; value: ValidCreateCall } | { ok: false; error: TwilioErrorAnswer } {
  if (!/^application\/x-www-form-urlencoded\b/i.test(contentType.trim())) {
    return bad(21200, 'The request body must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(body);
  for (const name of new Set(params.keys())) {
    if (!CREATE_CALL_PARAMETERS.has(name)) return bad(20001, `Unknown parameter: ${name.slice(0, 60)}`);
  }
  for (const name of new Set(params.keys())) {
    if (name !== 'StatusCallbackEvent' && name !== 'RecordingStatusCallbackEvent' && params.getAll(name).length > 1) {
      return bad(21200, `Parameter ${name} given more than once`);
    }
  }
  const to = params.get('To') ?? '';
  if (!to) return bad(21201, "No 'To' number is specified");
  if (!E164.test(to)) return bad(21211, `The 'To' number ${to.slice(0, 32)} is not a valid phone number.`);
  const from = params.get('From') ?? '';
  if (!from) return bad(21213, "No 'From' number is specified");
  if (!E164.test(from)) return bad(21212, `The 'From' number ${from.slice(0, 32)} is not a valid phone number.`);

  const given = (['Url', 'Twiml', 'ApplicationSid'] as const).filter((k) => (params.get(k) ?? '') !== '');
  if (given.length === 0) return bad(21205, 'Url, Twiml or ApplicationSid is required to make a call');
  if (given.length > 1) return bad(21205, `Only one of Url, Twiml, ApplicationSid may be given (got ${given.join(', ')})`);
  const param = given[0]!;
  const value = params.get(param) ?? '';
  if (param === 'Url' && !absoluteHttpUrl(value)) return bad(21205, 'Url is not a valid absolute http(s) URL');
  if (param === 'Twiml' && value.length > 4000) return bad(21200, 'Twiml is longer than 4000 characters');
  if (param === 'ApplicationSid' && !/^AP[0-9a-fA-F]{32}$/.test(value)) return bad(21200, 'ApplicationSid is not valid');

  for (const m of ['Method', 'FallbackMethod', 'StatusCallbackMethod']) {
    const v = params.get(m);
    if (v !== null && v !== 'GET' && v !== 'POST') return bad(21200, `${m} must be GET or POST`);
  }
  const statusCallback = params.get('StatusCallback');
  if (statusCallback !== null && !absoluteHttpUrl(statusCallback)) return bad(21609, 'StatusCallback is not a valid URL');
  const rawEvents = params.getAll('StatusCallbackEvent').flatMap((v) => v.trim().split(/\s+/)).filter(Boolean);
  for (const e of rawEvents) {
    if (!STATUS_CALLBACK_EVENTS.has(e)) return bad(21626, `Invalid StatusCallbackEvent: ${e.slice(0, 30)}`);
  }
  const machineDetection = params.get('MachineDetection');
  if (machineDetection !== null && machineDetection !== 'Enable' && machineDetection !== 'DetectMessageEnd') {
    return bad(21200, 'MachineDetection must be Enable or DetectMessageEnd');
  }
  let timeoutSeconds = 60;
  const timeout = params.get('Timeout');
  if (timeout !== null) {
    if (!/^[0-9]{1,4}$/.test(timeout)) return bad(21200, 'Timeout must be a whole number of seconds');
    timeoutSeconds = Math.min(600, Math.max(1, Number(timeout)));
  }
  return {
    ok: true,
    value: {
      to,
      from,
      action: { param, value },
      statusCallback,
      statusCallbackMethod: params.get('StatusCallbackMethod') === 'GET' ? 'GET' : 'POST',
      events: statusCallback === null ? [] : rawEvents.length > 0 ? [...new Set(rawEvents)] : ['completed'],
      machineDetection,
      timeoutSeconds,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The call timeline

export interface TimelineStep {
  /** ms after creation (already scaled). */
  atMs: number;
  /** The StatusCallbackEvent this step belongs to. */
  event: 'initiated' | 'ringing' | 'answered' | 'completed';
  /** Twilio CallStatus reported at this step. */
  status: 'initiated' | 'ringing' | 'in-progress' | SimOutcome;
  /** Extra callback parameters (CallDuration, AnsweredBy, SipResponseCode). */
  extra: Record<string, string>;
}

export interface TimelineInput {
  outcome: SimOutcome;
  timeoutSeconds: number;
  machineDetection: boolean;
  answeredBy?: string;
  timing: SimTiming;
  timeScale: number;
}

/**
 * Every step of a call from creation to its end: initiated -> ringing -> answered (in-progress) ->
 * completed, or initiated -> ringing -> busy / no-answer / failed. A no-answer rings for the
 * request's Timeout. CallDuration is the simulated talk time in seconds (before scaling).
 */
export function planTimeline(rng: () => number, input: TimelineInput): TimelineStep[] {
  const s = input.timeScale;
  const initiated = between(rng, input.timing.initiatedMs);
  const ringing = initiated + between(rng, input.timing.ringingMs);
  const steps: TimelineStep[] = [
    { atMs: initiated * s, event: 'initiated', status: 'initiated', extra: {} },
    { atMs: ringing * s, event: 'ringing', status: 'ringing', extra: {} },
  ];
  const amd: Record<string, string> = input.machineDetection ? { AnsweredBy: input.answeredBy ?? 'human' } : {};
  switch (input.outcome) {
    case 'completed': {
      const answered = ringing + between(rng, input.timing.ringMs);
      const talk = between(rng, input.timing.talkMs);
      steps.push({ atMs: answered * s, event: 'answered', status: 'in-progress', extra: { ...amd } });
      steps.push({
        atMs: (answered + talk) * s,
        event: 'completed',
        status: 'completed',
        extra: { CallDuration: String(Math.max(1, Math.round(talk / 1000))), SipResponseCode: '200', ...amd },
      });
      break;
    }
    case 'no-answer': {
      const timeoutMs = input.timeoutSeconds * 1000;
      const rings = input.timing.noAnswerMs ? Math.min(timeoutMs, between(rng, input.timing.noAnswerMs)) : timeoutMs;
      steps.push({
        atMs: (ringing + rings) * s,
        event: 'completed',
        status: 'no-answer',
        extra: { CallDuration: '0', SipResponseCode: '487' },
      });
      break;
    }
    case 'busy':
      steps.push({
        atMs: (ringing + between(rng, input.timing.ringMs) * 0.25) * s,
        event: 'completed',
        status: 'busy',
        extra: { CallDuration: '0', SipResponseCode: '486' },
      });
      break;
    case 'failed':
      steps.push({
        atMs: (ringing + between(rng, input.timing.ringMs) * 0.25) * s,
        event: 'completed',
        status: 'failed',
        extra: { CallDuration: '0', SipResponseCode: '503' },
      });
      break;
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// The provider's view of the request rate

/**
 * The largest number of arrival times (ms, any order) that fall in one half-open window
 * [t, t + windowMs), over every t: what a provider enforcing "at most N requests per windowMs"
 * would have counted at worst. Two arrivals exactly windowMs apart never share a window.
 */
export function maxRequestsInWindow(arrivals: readonly number[], windowMs: number): number {
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new Error('windowMs must be a positive number');
  const t = [...arrivals].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** A permutation of [0, n) that is not the identity (n > 1). */
export function outOfOrder(rng: () => number, n: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  if (n > 1 && idx.every((v, i) => v === i)) idx.reverse();
  return idx;
}
