// One conformance suite for telephony adapters (River's shared driver suite is the model): every
// adapter, pointed at the Twilio-compatible simulator over real HTTP on loopback, must turn each
// provider answer into the right outcome (accepted / retryable / permanent / unknown), never send a
// call twice, and its callbacks must arrive signed, verify and parse into our statuses. No database.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  CallStatus,
  CreateCallOutcome,
  CreateCallRequest,
  StatusUpdate,
  TelephonyProvider,
} from '../supabase/functions/_shared/provider.ts';
import {
  mapTwilioCallStatus,
  parseTwilioStatusCallback,
  TwilioProvider,
  verifyTwilioSignature,
} from '../supabase/functions/_shared/twilio.ts';
import {
  signalWireBaseUrl,
  SignalWireProvider,
  signalWireStatusCallbackUrl,
} from '../supabase/functions/_shared/providers/signalwire.ts';
import { type SimFaults, startTwilioSimulator, type TwilioSimulator } from '../scripts/twilio-sim/server.ts';
import { waitFor } from './support/clock.ts';
import { type CallbackReceiver, closedPort, type ReceivedCallback, startCallbackReceiver } from './support/net.ts';

// ---------------------------------------------------------------------------------------------
// The suite

interface Endpoint {
  baseUrl: string;
  accountSid: string;
  authToken: string;
}

export interface ProviderUnderTest {
  /** Builds the adapter for a provider endpoint (the simulator, or a dead port). */
  makeProvider(endpoint: Endpoint): TelephonyProvider;
  /** The adapter's callback signature check and parser. */
  verifyCallback(authToken: string, url: string, params: URLSearchParams, signature: string): Promise<boolean>;
  parseCallback(params: URLSearchParams, url: URL): StatusUpdate;
  /** The status callback URL the adapter gives the provider for a request's (default: the same). */
  statusCallbackFor?: (statusCallbackUrl: string) => string;
  /** Fault settings always in force in this variant (e.g. latency for a slow provider). */
  baseFaults?: SimFaults;
  /** Request timeout for ordinary requests; hanging ones use hangTimeoutMs. */
  requestTimeoutMs: number;
  hangTimeoutMs: number;
}

const FROM = '+15005550006';
const TWIML = '<Response><Say>This is a test call.</Say></Response>';
/** Numbers from the North American range reserved for fiction (555-01xx). */
const fictional = (i: number) => `+1555555${String(100 + (i % 100)).padStart(4, '0')}`;

export function describeProviderConformance(name: string, put: ProviderUnderTest): void {
  describe(`telephony provider conformance: ${name}`, () => {
    let sim: TwilioSimulator;
    let receiver: CallbackReceiver;
    let provider: TelephonyProvider;
    let nextId = 1000;

    beforeAll(async () => {
      // Calls last milliseconds: timeScale shrinks ring and talk times (60 s ring -> 60 ms).
      sim = await startTwilioSimulator({ seed: 7, timeScale: 0.001, faults: put.baseFaults ?? {} });
      receiver = await startCallbackReceiver();
      provider = put.makeProvider({ baseUrl: sim.url, accountSid: sim.accountSid, authToken: sim.authToken });
    });
    afterAll(async () => {
      await sim?.close();
      await receiver?.close();
    });
    beforeEach(() => {
      sim.reset();
      receiver.clear();
    });

    const request = (over: Partial<CreateCallRequest> = {}): CreateCallRequest => {
      const callId = String(nextId++);
      return {
        callId,
        to: fictional(nextId),
        from: FROM,
        statusCallbackUrl: `${receiver.url}?call_id=${callId}`,
        settings: { twiml: TWIML },
        timeoutMs: put.requestTimeoutMs,
        ...over,
      };
    };
    const callbacksFor = (callId: string) =>
      receiver.received.filter((c) => new URL(c.url).searchParams.get('call_id') === callId);
    const bySequence = (cbs: ReceivedCallback[]) =>
      [...cbs].sort((a, b) => Number(a.params.get('SequenceNumber')) - Number(b.params.get('SequenceNumber')));

    // --- accepted ------------------------------------------------------------------------------

    it('accepts a call: the provider call id names the call the provider created', async () => {
      const req = request();
      const out = await provider.createCall(req);
      expect(out).toEqual({ kind: 'accepted', providerCallId: expect.stringMatching(/^CA[0-9a-f]{32}$/), status: 'dialing' });
      const calls = sim.calls();
      expect(calls).toHaveLength(1);
      const call = calls[0]!;
      expect(call.sid).toBe((out as { providerCallId: string }).providerCallId);
      expect(call).toMatchObject({
        to: req.to,
        from: FROM,
        action: { param: 'Twiml', value: TWIML },
        statusCallback: put.statusCallbackFor ? put.statusCallbackFor(req.statusCallbackUrl) : req.statusCallbackUrl,
        statusCallbackMethod: 'POST',
        answeredWith: 201,
      });
      expect([...call.events].sort()).toEqual(['answered', 'completed', 'initiated', 'ringing']);
      const stats = sim.stats();
      expect(stats.createRequests).toBe(1);
      expect(stats.createdPerNumber).toEqual({ [req.to]: 1 });
    });

    it('passes the campaign settings: Url instead of Twiml, machine detection, ring timeout', async () => {
      const req = request({ settings: { url: 'https://example.com/twiml/welcome', machine_detection: 'Enable', timeout: 25 } });
      const out = await provider.createCall(req);
      expect(out.kind).toBe('accepted');
      expect(sim.calls()[0]).toMatchObject({
        // The call flow learns whom it calls: our call id on the answer URL.
        action: { param: 'Url', value: `https://example.com/twiml/welcome?call_id=${req.callId}` },
        machineDetection: 'Enable',
        timeoutSeconds: 25,
      });
    });

    // --- permanent -----------------------------------------------------------------------------

    it('an invalid To is permanent with invalidNumber (21211 from a number rule, 21217 from a Twilio test number)', async () => {
      sim.setFaults({
        numbers: [{ match: '*0000', reject: { code: 21211, message: "The 'To' number is not a valid phone number." } }],
      });
      const a = await provider.createCall(request({ to: '+15555550000' }));
      expect(a).toMatchObject({ kind: 'permanent', invalidNumber: true, code: '21211', httpStatus: 400 });
      const b = await provider.createCall(request({ to: '+15005550001' }));
      expect(b).toMatchObject({ kind: 'permanent', invalidNumber: true, code: '21217', httpStatus: 400 });
      expect(sim.stats().createRequests).toBe(2);
      expect(sim.stats().created).toBe(0);
    });

    it('a To that is not E.164 is permanent with invalidNumber, and nothing is sent', async () => {
      const out = await provider.createCall(request({ to: '5550100' }));
      expect(out).toMatchObject({ kind: 'permanent', invalidNumber: true });
      expect(sim.stats().createRequests).toBe(0);
    });

    it('an unverified caller id is permanent, and not the contact number’s fault', async () => {
      const out = await provider.createCall(request({ from: '+15005550007' }));
      expect(out).toMatchObject({ kind: 'permanent', invalidNumber: false, code: '21210', httpStatus: 400 });
      expect(sim.stats().created).toBe(0);
    });

    it('wrong credentials are permanent (401, code 20003)', async () => {
      const wrong = put.makeProvider({ baseUrl: sim.url, accountSid: sim.accountSid, authToken: `${sim.authToken}x` });
      const out = await wrong.createCall(request());
      expect(out).toMatchObject({ kind: 'permanent', invalidNumber: false, code: '20003', httpStatus: 401 });
      expect(sim.stats().created).toBe(0);
    });

    it('a campaign with no call instructions, or two, is permanent and nothing is sent', async () => {
      const none = await provider.createCall(request({ settings: {} }));
      const two = await provider.createCall(request({ settings: { twiml: TWIML, url: 'https://example.com/x' } }));
      for (const out of [none, two]) {
        expect(out).toMatchObject({
          kind: 'permanent',
          invalidNumber: false,
          reason: expect.stringMatching(/malformed campaign/),
        });
      }
      expect(sim.stats().createRequests).toBe(0);
    });

    // --- retryable -----------------------------------------------------------------------------

    it('429 is retryable, honours Retry-After, and no call was created', async () => {
      sim.setFaults({ rate429: 1, retryAfterSeconds: 7 });
      const out = await provider.createCall(request());
      expect(out).toEqual({ kind: 'retryable', reason: expect.any(String), code: '20429', httpStatus: 429, retryAfterMs: 7000 });
      expect(sim.stats().created).toBe(0);
    });

    it('503 is retryable (also during an outage), and no call was created', async () => {
      sim.setFaults({ rate503: 1, retryAfterSeconds503: 2 });
      expect(await provider.createCall(request())).toMatchObject({ kind: 'retryable', httpStatus: 503, retryAfterMs: 2000 });
      sim.setFaults({ rate503: null, retryAfterSeconds503: null, outage: true });
      expect(await provider.createCall(request())).toMatchObject({ kind: 'retryable', httpStatus: 503 });
      expect(sim.stats().createRequests).toBe(2);
      expect(sim.stats().created).toBe(0);
    });

    it('connection refused is retryable: the request never left this machine', async () => {
      const dead = put.makeProvider({
        baseUrl: `http://127.0.0.1:${await closedPort()}`,
        accountSid: sim.accountSid,
        authToken: sim.authToken,
      });
      const out = await dead.createCall(request());
      expect(out.kind).toBe('retryable');
      expect(sim.stats().createRequests).toBe(0);
    });

    it('a caller signal aborted before sending is retryable, and nothing is sent', async () => {
      const ctl = new AbortController();
      ctl.abort();
      expect((await provider.createCall(request({ signal: ctl.signal }))).kind).toBe('retryable');
      expect(sim.stats().createRequests).toBe(0);
    });

    // --- unknown -------------------------------------------------------------------------------

    it('500 is unknown; the call existed after all, and its callbacks carry our call id', async () => {
      sim.setFaults({ rate500: 1, numbers: [{ match: '*', outcome: 'completed' }] });
      const req = request();
      const out = await provider.createCall(req);
      expect(out.kind).toBe('unknown');
      expect(sim.stats()).toMatchObject({ createRequests: 1, created: 1 });
      await sim.settled();
      const final = bySequence(callbacksFor(req.callId)).at(-1);
      expect(final).toBeDefined();
      const update = put.parseCallback(final!.params, new URL(final!.url));
      expect(update).toMatchObject({ callId: req.callId, providerCallId: sim.calls()[0]!.sid, status: 'completed' });
    });

    it('a request left hanging past the timeout is unknown, and the provider saw exactly one request', async () => {
      sim.setFaults({ hangRate: 1 });
      const req = request({ timeoutMs: put.hangTimeoutMs });
      const out = await provider.createCall(req);
      expect(out.kind).toBe('unknown');
      const stats = sim.stats();
      expect(stats.createRequests).toBe(1);
      expect(stats.requestsPerNumber).toEqual({ [req.to]: 1 });
      expect(stats.hanging).toBe(1);
    });

    it('a caller signal aborted while the request is in flight is unknown', async () => {
      sim.setFaults({ hangRate: 1 });
      const ctl = new AbortController();
      const pending = provider.createCall(request({ signal: ctl.signal, timeoutMs: 30_000 }));
      await waitFor('the simulator to receive the request', () => sim.stats().createRequests === 1, {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      ctl.abort();
      expect((await pending).kind).toBe('unknown');
      expect(sim.stats().createRequests).toBe(1);
    });

    // --- status callbacks ------------------------------------------------------------------------

    it('status callbacks arrive signed, verify, and parse into our statuses in order', async () => {
      sim.setFaults({ numbers: [{ match: '*', outcome: 'completed' }] });
      const req = request();
      const out = await provider.createCall(req);
      expect(out.kind).toBe('accepted');
      await sim.settled();
      const cbs = callbacksFor(req.callId);
      expect(cbs.map((c) => c.params.get('SequenceNumber'))).toEqual(['0', '1', '2', '3']);
      for (const cb of cbs) {
        expect(cb.method).toBe('POST');
        expect(cb.signature).not.toBe('');
        expect(await put.verifyCallback(sim.authToken, cb.url, cb.params, cb.signature)).toBe(true);
        expect(await put.verifyCallback(`${sim.authToken}0`, cb.url, cb.params, cb.signature)).toBe(false);
        expect(cb.params.get('CallbackSource')).toBe('call-progress-events');
        expect(cb.params.get('AccountSid')).toBe(sim.accountSid);
      }
      const updates = cbs.map((cb) => put.parseCallback(cb.params, new URL(cb.url)));
      expect(updates.map((u) => u.status)).toEqual<CallStatus[]>(['dialing', 'ringing', 'in_progress', 'completed']);
      for (const u of updates) {
        expect(u.callId).toBe(req.callId);
        expect(u.providerCallId).toBe((out as { providerCallId: string }).providerCallId);
        expect(u.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
      }
      expect(updates[3]!.durationSeconds).toBeGreaterThan(0);
      // A tampered callback (the status changed on the way) does not verify.
      const last = cbs[3]!;
      const forged = new URLSearchParams(last.params);
      forged.set('CallStatus', 'busy');
      expect(await put.verifyCallback(sim.authToken, last.url, forged, last.signature)).toBe(false);
    });

    it('busy, no-answer and failed calls end with the mapped status and no talk time', async () => {
      sim.setFaults({
        numbers: [
          { match: '*0101', outcome: 'busy' },
          { match: '*0102', outcome: 'no-answer' },
          { match: '*0103', outcome: 'failed' },
        ],
      });
      const reqs = [request({ to: '+15555550101' }), request({ to: '+15555550102' }), request({ to: '+15555550103' })];
      for (const r of reqs) expect((await provider.createCall(r)).kind).toBe('accepted');
      await sim.settled();
      const finals = reqs.map((r) => {
        const last = bySequence(callbacksFor(r.callId)).at(-1)!;
        return put.parseCallback(last.params, new URL(last.url));
      });
      expect(finals.map((u) => u.status)).toEqual<CallStatus[]>(['busy', 'no_answer', 'failed']);
      for (const u of finals) expect(u.durationSeconds).toBe(0);
    });

    it('duplicated callbacks are identical, signature included, and each verifies', async () => {
      sim.setFaults({ duplicateCallbackRate: 1 });
      const req = request();
      expect((await provider.createCall(req)).kind).toBe('accepted');
      await sim.settled();
      const cbs = callbacksFor(req.callId);
      const steps = sim.calls()[0]!.callbacks.length;
      expect(steps).toBeGreaterThanOrEqual(3);
      expect(cbs).toHaveLength(2 * steps);
      expect(sim.stats().callbacksDuplicated).toBe(steps);
      const groups = new Map<string, ReceivedCallback[]>();
      for (const cb of cbs) {
        groups.set(cb.params.get('SequenceNumber')!, [...(groups.get(cb.params.get('SequenceNumber')!) ?? []), cb]);
      }
      expect(groups.size).toBe(steps);
      for (const [, pair] of groups) {
        expect(pair).toHaveLength(2);
        expect(pair[1]!.body).toBe(pair[0]!.body);
        expect(pair[1]!.signature).toBe(pair[0]!.signature);
        for (const cb of pair) expect(await put.verifyCallback(sim.authToken, cb.url, cb.params, cb.signature)).toBe(true);
      }
    });

    it('dropped callbacks never arrive, while the call still ends at the provider', async () => {
      sim.setFaults({ dropCallbackRate: 1 });
      const req = request();
      expect((await provider.createCall(req)).kind).toBe('accepted');
      await sim.settled();
      expect(callbacksFor(req.callId)).toHaveLength(0);
      const call = sim.calls()[0]!;
      expect(sim.stats().callbacksDropped).toBe(call.callbacks.length);
      expect(call.callbacks.every((c) => c.delivery === 'dropped')).toBe(true);
      expect(mapTwilioCallStatus(call.status)).toMatch(/^(completed|busy|no_answer|failed)$/);
    });

    it('reordered callbacks arrive out of order; their sequence numbers restore the order', async () => {
      sim.setFaults({ reorderCallbacks: true, numbers: [{ match: '*', outcome: 'completed' }] });
      const req = request();
      expect((await provider.createCall(req)).kind).toBe('accepted');
      await sim.settled();
      const cbs = callbacksFor(req.callId);
      const arrival = cbs.map((c) => Number(c.params.get('SequenceNumber')));
      expect([...arrival].sort()).toEqual([0, 1, 2, 3]);
      expect(arrival).not.toEqual([0, 1, 2, 3]);
      const last = bySequence(cbs).at(-1)!;
      expect(put.parseCallback(last.params, new URL(last.url)).status).toBe('completed');
    });

    // --- invariant 4 under a mix of faults -------------------------------------------------------

    it('under a mix of faults, retrying only retryable outcomes never dials anyone twice', async () => {
      sim.setFaults({ rate429: 0.25, rate503: 0.1, rate500: 0.1, hangRate: 0.05, retryAfterSeconds: 0 });
      const outcomes: Array<{ to: string; final: CreateCallOutcome; attempts: number }> = [];
      for (let i = 0; i < 30; i++) {
        const req = request({ to: `+1555555${String(1000 + i)}`, timeoutMs: put.hangTimeoutMs });
        let out: CreateCallOutcome;
        let attempts = 0;
        do {
          attempts++;
          out = await provider.createCall(req);
        } while (out.kind === 'retryable' && attempts < 20);
        outcomes.push({ to: req.to, final: out, attempts });
      }
      const stats = sim.stats();
      expect(Object.values(stats.createdPerNumber).every((n) => n === 1)).toBe(true);
      for (const o of outcomes) {
        if (o.final.kind === 'unknown') {
          // Sent once, never again; whether it was created is for the callback to tell.
          expect(stats.requestsPerNumber[o.to]).toBe(o.attempts);
          expect(stats.createdPerNumber[o.to] ?? 0).toBeLessThanOrEqual(1);
        }
        if (o.final.kind === 'accepted') expect(stats.createdPerNumber[o.to]).toBe(1);
      }
      // The mix really was mixed.
      expect(stats.injected['429'] + stats.injected['503']).toBeGreaterThan(0);
      expect(outcomes.some((o) => o.final.kind === 'unknown')).toBe(true);
      expect(outcomes.some((o) => o.final.kind === 'accepted')).toBe(true);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The status table (adapter-specific, no provider needed)

describe('mapTwilioCallStatus', () => {
  it.each<[string, CallStatus]>([
    ['queued', 'dialing'],
    ['initiated', 'dialing'],
    ['ringing', 'ringing'],
    ['in-progress', 'in_progress'],
    ['completed', 'completed'],
    ['busy', 'busy'],
    ['no-answer', 'no_answer'],
    ['failed', 'failed'],
    ['canceled', 'canceled'],
    [' In-Progress ', 'in_progress'],
  ])('%s -> %s', (twilio, ours) => {
    expect(mapTwilioCallStatus(twilio)).toBe(ours);
  });

  it.each(['', 'answered', 'in_progress', 'no_answer', 'cancelled', 'toString', '__proto__', 'unknown'])(
    '%j is not a Twilio call status',
    (s) => {
      expect(mapTwilioCallStatus(s)).toBeNull();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// The adapters under test

const twilio = {
  makeProvider: (e: Endpoint) => new TwilioProvider(e),
  verifyCallback: (token: string, url: string, params: URLSearchParams, sig: string) =>
    verifyTwilioSignature(token, url, params, sig),
  parseCallback: parseTwilioStatusCallback,
};

describeProviderConformance('Twilio adapter -> simulator', { ...twilio, requestTimeoutMs: 5000, hangTimeoutMs: 200 });

// SignalWire's LaML API is Twilio's under /api/laml: the SignalWire adapter passes the same suite.
describeProviderConformance('SignalWire adapter -> simulator (LaML)', {
  ...twilio,
  makeProvider: (e: Endpoint) => new SignalWireProvider(new TwilioProvider({ ...e, baseUrl: signalWireBaseUrl(e.baseUrl) })),
  // Its callbacks go to call-status's SignalWire path, where the SignalWire signature is checked.
  statusCallbackFor: signalWireStatusCallbackUrl,
  requestTimeoutMs: 5000,
  hangTimeoutMs: 200,
});

// The same adapter against a slow provider: every answer 20-120 ms late, still inside the timeout.
describeProviderConformance('Twilio adapter -> slow simulator', {
  ...twilio,
  baseFaults: { latencyMs: [20, 120] },
  requestTimeoutMs: 5000,
  hangTimeoutMs: 200,
});
