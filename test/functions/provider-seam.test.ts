// The telephony seam (supabase/functions/_shared/provider.ts): one conformance suite every adapter
// must pass, run here against the Twilio adapter talking to the Twilio simulator over loopback (as
// is, and with a slow simulator), then what is specific to Twilio: its status values and its
// X-Twilio-Signature scheme, checked against an independent node:crypto computation and Twilio's
// own published test vectors.

import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CreateCallOutcome, CreateCallRequest, TelephonyProvider } from '../../supabase/functions/_shared/provider.ts';
import {
  TwilioProvider,
  computeTwilioSignature,
  mapTwilioCallStatus,
  parseTwilioStatusCallback,
  verifyTwilioSignature,
} from '../../supabase/functions/_shared/twilio.ts';
import { closedPort, freshPhone, startSim, waitFor, type TwilioSimulator } from '../helpers/tick-fixtures.ts';

// ---------------------------------------------------------------------------------------------
// The conformance suite

/** A provider answer an adapter's test double (or simulator) can be told to give next. */
export type InjectedAnswer = 'rate_limited' | 'unavailable' | 'server_error' | 'hang';

/** What the conformance suite needs from one adapter and the fake provider behind it. */
export interface ProviderHarness {
  provider: TelephonyProvider;
  /** The provider's next create request gets this answer (once). */
  inject(answer: InjectedAnswer): void;
  /** Create requests the provider side has received. */
  requestsSeen(): number;
  /** Ids of the calls the provider side created, in order. */
  createdIds(): string[];
  /** A number the provider refuses as not a valid phone number. */
  invalidNumber: string;
  /** The same adapter aimed at an address where nothing listens. */
  unreachable(): Promise<TelephonyProvider>;
  /** The same adapter with credentials the provider refuses. */
  wrongCredentials(): TelephonyProvider;
  /** A status callback URL the provider accepts. */
  statusCallbackUrl(callId: string): string;
  /** Back to a clean provider between tests. */
  reset(): void;
  close(): Promise<void>;
}

const outcomeKinds = ['accepted', 'retryable', 'permanent', 'unknown'];

/**
 * The seam's contract (provider.ts): every answer is one of four kinds, an adapter never throws,
 * and "we cannot know whether it was created" is always unknown, never retryable.
 */
export function describeProviderConformance(name: string, makeHarness: () => Promise<ProviderHarness>): void {
  describe(`provider conformance: ${name}`, () => {
    let h: ProviderHarness;
    let nextCallId = 1;

    beforeAll(async () => {
      h = await makeHarness();
    });
    afterAll(async () => {
      await h?.close();
    });
    beforeEach(() => {
      h.reset();
    });

    const request = (over: Partial<CreateCallRequest> = {}): CreateCallRequest => {
      const callId = String(nextCallId++);
      return {
        callId,
        to: freshPhone(),
        from: '+15559990000',
        statusCallbackUrl: h.statusCallbackUrl(callId),
        settings: { twiml: '<Response><Say>conformance</Say></Response>' },
        timeoutMs: 2000,
        ...over,
      };
    };

    async function create(provider: TelephonyProvider, req: CreateCallRequest): Promise<CreateCallOutcome> {
      const outcome = await provider.createCall(req);
      expect(outcomeKinds).toContain(outcome.kind);
      if (outcome.kind !== 'accepted') expect(outcome.reason.length).toBeGreaterThan(0);
      return outcome;
    }

    it('accepted -> the provider call id of the call it created', async () => {
      const outcome = await create(h.provider, request());
      expect(outcome).toMatchObject({ kind: 'accepted', status: 'dialing' });
      expect(h.createdIds()).toEqual([(outcome as { providerCallId: string }).providerCallId]);
      expect(h.requestsSeen()).toBe(1);
    });

    it('each call action is accepted: url, twiml, application_sid', async () => {
      for (const settings of [
        { url: 'https://example.com/twiml' },
        { twiml: '<Response/>' },
        { application_sid: `AP${'0'.repeat(32)}` },
      ]) {
        expect((await create(h.provider, request({ settings }))).kind, JSON.stringify(settings)).toBe('accepted');
      }
    });

    it('an invalid To -> permanent with invalidNumber', async () => {
      const refused = await create(h.provider, request({ to: h.invalidNumber }));
      expect(refused).toMatchObject({ kind: 'permanent', invalidNumber: true });
      const garbage = await create(h.provider, request({ to: 'not a number' }));
      expect(garbage).toMatchObject({ kind: 'permanent', invalidNumber: true });
      expect(h.createdIds()).toEqual([]);
    });

    it('429 -> retryable with retryAfterMs, nothing created', async () => {
      h.inject('rate_limited');
      const outcome = await create(h.provider, request());
      expect(outcome).toMatchObject({ kind: 'retryable', httpStatus: 429, retryAfterMs: 2000 });
      expect(h.createdIds()).toEqual([]);
      // Only that request: the next one goes through.
      expect((await create(h.provider, request())).kind).toBe('accepted');
    });

    it('503 -> retryable, nothing created', async () => {
      h.inject('unavailable');
      expect(await create(h.provider, request())).toMatchObject({ kind: 'retryable', httpStatus: 503 });
      expect(h.createdIds()).toEqual([]);
    });

    it('500 -> unknown (the provider may have created it)', async () => {
      h.inject('server_error');
      const outcome = await create(h.provider, request());
      expect(outcome.kind).toBe('unknown');
      expect(h.requestsSeen()).toBe(1);
    });

    it('no answer within the timeout -> unknown, after exactly one request', async () => {
      h.inject('hang');
      const outcome = await create(h.provider, request({ timeoutMs: 300 }));
      expect(outcome.kind).toBe('unknown');
      expect((outcome as { reason: string }).reason).toMatch(/300 ms/);
      expect(h.requestsSeen()).toBe(1);
    });

    it('connection refused -> retryable (nothing was sent)', async () => {
      const outcome = await create(await h.unreachable(), request());
      expect(outcome.kind).toBe('retryable');
      expect(h.requestsSeen()).toBe(0);
    });

    it('wrong credentials -> permanent, not an invalid number', async () => {
      const outcome = await create(h.wrongCredentials(), request());
      expect(outcome).toMatchObject({ kind: 'permanent', invalidNumber: false, httpStatus: 401 });
      expect(h.createdIds()).toEqual([]);
    });

    it('no call action, or more than one -> permanent, and nothing is sent', async () => {
      for (const settings of [{}, { twiml: '' }, { twiml: '<Response/>', url: 'https://example.com/x' }]) {
        const outcome = await create(h.provider, request({ settings }));
        expect(outcome, JSON.stringify(settings)).toMatchObject({ kind: 'permanent', invalidNumber: false });
      }
      expect(h.requestsSeen()).toBe(0);
    });

    it('never throws, whatever the settings hold', async () => {
      const odd: Array<Record<string, unknown>> = [
        { twiml: 42 },
        { url: 'not a url' },
        { application_sid: 'nope' },
        { twiml: '<Response/>', timeout: 'forever' },
        { twiml: '<Response/>', machine_detection: { on: true } },
      ];
      for (const settings of odd) {
        const outcome = await create(h.provider, request({ settings }));
        expect(outcome.kind, JSON.stringify(settings)).not.toBe('accepted');
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The Twilio adapter against the simulator

function twilioAgainstSimulator(simOptions: Parameters<typeof startSim>[0] = {}): () => Promise<ProviderHarness> {
  return async () => {
    const sim: TwilioSimulator = await startSim({ callbacks: false, ...simOptions });
    const adapter = (authToken = sim.authToken, baseUrl = sim.url) =>
      new TwilioProvider({ accountSid: sim.accountSid, authToken, baseUrl });
    const answers = { rate_limited: '429', unavailable: '503', server_error: '500', hang: 'hang' } as const;
    return {
      provider: adapter(),
      inject: (answer) => sim.setFaults({ script: [answers[answer]], retryAfterSeconds: 2 }),
      requestsSeen: () => sim.stats().createRequests,
      createdIds: () => sim.calls().map((c) => c.sid),
      invalidNumber: '+15005550001',
      unreachable: async () => adapter(sim.authToken, `http://127.0.0.1:${await closedPort()}`),
      wrongCredentials: () => adapter(randomBytes(16).toString('hex')),
      statusCallbackUrl: (callId) => `http://127.0.0.1:9/functions/v1/call-status?call_id=${callId}`,
      reset: () => sim.reset(),
      close: () => sim.close(),
    };
  };
}

describeProviderConformance('Twilio adapter -> simulator', twilioAgainstSimulator());
describeProviderConformance('Twilio adapter -> slow simulator (150 ms per answer)', twilioAgainstSimulator({ faults: { latencyMs: 150 } }));

// ---------------------------------------------------------------------------------------------
// Twilio specifics

describe('Twilio call statuses', () => {
  it('maps every documented CallStatus, and nothing else', () => {
    const table: Record<string, string> = {
      queued: 'dialing',
      initiated: 'dialing',
      ringing: 'ringing',
      'in-progress': 'in_progress',
      completed: 'completed',
      busy: 'busy',
      'no-answer': 'no_answer',
      failed: 'failed',
      canceled: 'canceled',
    };
    for (const [twilio, ours] of Object.entries(table)) {
      expect(mapTwilioCallStatus(twilio), twilio).toBe(ours);
      expect(mapTwilioCallStatus(` ${twilio.toUpperCase()} `), twilio).toBe(ours);
    }
    for (const other of ['', 'answered', 'in_progress', 'no_answer', 'cancelled', 'unknown', 'toString', '__proto__', 'constructor']) {
      expect(mapTwilioCallStatus(other), other).toBeNull();
    }
  });

  it('reads a status callback: our call id from the URL, the rest from the form', () => {
    const params = new URLSearchParams({
      CallSid: 'CA0123456789abcdef0123456789abcdef',
      CallStatus: 'completed',
      CallDuration: '37',
      SequenceNumber: '3',
    });
    const update = parseTwilioStatusCallback(params, new URL('http://127.0.0.1/functions/v1/call-status?call_id=12'));
    expect(update).toMatchObject({
      callId: '12',
      providerCallId: 'CA0123456789abcdef0123456789abcdef',
      status: 'completed',
      durationSeconds: 37,
      sequenceNumber: 3,
    });
    expect(() => parseTwilioStatusCallback(new URLSearchParams({ CallStatus: 'completed' }), new URL('http://x/'))).toThrow(/CallSid/);
    expect(() =>
      parseTwilioStatusCallback(new URLSearchParams({ CallSid: 'CA1', CallStatus: 'exploded' }), new URL('http://x/')),
    ).toThrow();
  });
});

describe('X-Twilio-Signature', () => {
  /** Twilio's scheme computed independently: node:crypto, names sorted, a name's values sorted and unique. */
  function independentSignature(token: string, url: string, params: Array<[string, string]>): string {
    const byName = new Map<string, Set<string>>();
    for (const [k, v] of params) byName.set(k, (byName.get(k) ?? new Set()).add(v));
    let data = url;
    for (const k of [...byName.keys()].sort()) for (const v of [...byName.get(k)!].sort()) data += k + v;
    return createHmac('sha1', token).update(data, 'utf8').digest('base64');
  }

  // Twilio's published example (its security docs and every helper library's tests).
  const DOC_TOKEN = '12345';
  const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const DOC_PARAMS = {
    CallSid: 'CA1234567890ABCDE',
    Caller: '+14158675309',
    Digits: '1234',
    From: '+14158675309',
    To: '+18005551212',
  };

  it("matches Twilio's published test vectors", async () => {
    expect(await computeTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    // A repeated name: its values sorted, duplicates dropped (twilio-node, twilio-python).
    const repeated = new URLSearchParams([
      ['Sid', 'CA123'],
      ['SidAccount', 'AC123'],
      ['Digits', '5678'],
      ['Digits', '1234'],
      ['Digits', '1234'],
    ]);
    expect(await computeTwilioSignature(DOC_TOKEN, DOC_URL, repeated)).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
    expect(await verifyTwilioSignature(DOC_TOKEN, DOC_URL, repeated, 'IK+Dwps556ElfBT0I3Rgjkr1wJU=')).toBe(true);
  });

  it('equals an independent node:crypto HMAC-SHA1 computation', async () => {
    const cases: Array<[string, string, Array<[string, string]>]> = [
      [DOC_TOKEN, DOC_URL, Object.entries(DOC_PARAMS)],
      ['t0k3n', 'http://127.0.0.1:54321/functions/v1/call-status?call_id=7', [['CallStatus', 'ringing'], ['CallSid', 'CAabc']]],
      ['tok', 'https://a.example/cb', []],
      ['tok', 'https://a.example/cb', [['Body', 'hello+world & 100% Grüß Gott'], ['From', '+4915123456789']]],
      ['tok', 'https://a.example/cb', [['a', '2'], ['B', '1'], ['_', '3'], ['a', '1']]],
    ];
    for (let i = 0; i < 20; i++) {
      const token = randomBytes(16).toString('hex');
      const params: Array<[string, string]> = Array.from({ length: 1 + (i % 6) }, (_, j) => [
        ['CallSid', 'CallStatus', 'To', 'From', 'Timestamp', 'SequenceNumber'][j]!,
        randomBytes(6).toString('base64'),
      ]);
      cases.push([token, `https://example.com/functions/v1/call-status?call_id=${i}`, params]);
    }
    for (const [token, url, params] of cases) {
      const expected = independentSignature(token, url, params);
      expect(await computeTwilioSignature(token, url, new URLSearchParams(params)), url).toBe(expected);
      expect(await verifyTwilioSignature(token, url, new URLSearchParams(params), expected)).toBe(true);
    }
  });

  it('verify rejects near misses, another token, tampered parameters and another URL', async () => {
    const good = await computeTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const rejected: Array<[string, Promise<boolean>]> = [
      ['first character changed', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, flip(good, 0))],
      ['middle character changed', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, flip(good, 13))],
      ['truncated', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, good.slice(0, -1))],
      ['extended', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, `${good}=`)],
      ['lower case', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, good.toLowerCase())],
      ['empty', verifyTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS, '')],
      ['another token', verifyTwilioSignature('12346', DOC_URL, DOC_PARAMS, good)],
      ['an empty token', verifyTwilioSignature('', DOC_URL, DOC_PARAMS, good)],
      ['a tampered value', verifyTwilioSignature(DOC_TOKEN, DOC_URL, { ...DOC_PARAMS, Digits: '9999' }, good)],
      ['a parameter added', verifyTwilioSignature(DOC_TOKEN, DOC_URL, { ...DOC_PARAMS, CallDuration: '1' }, good)],
      [
        'a parameter removed',
        verifyTwilioSignature(DOC_TOKEN, DOC_URL, Object.fromEntries(Object.entries(DOC_PARAMS).filter(([k]) => k !== 'Digits')), good),
      ],
      ['a name changed', verifyTwilioSignature(DOC_TOKEN, DOC_URL, { ...DOC_PARAMS, digits: '1234' }, good)],
      ['another query string', verifyTwilioSignature(DOC_TOKEN, 'https://mycompany.com/myapp.php?foo=1&bar=3', DOC_PARAMS, good)],
      ['no query string', verifyTwilioSignature(DOC_TOKEN, 'https://mycompany.com/myapp.php', DOC_PARAMS, good)],
      ['another path', verifyTwilioSignature(DOC_TOKEN, 'https://mycompany.com/other.php?foo=1&bar=2', DOC_PARAMS, good)],
      ['http instead of https', verifyTwilioSignature(DOC_TOKEN, 'http://mycompany.com/myapp.php?foo=1&bar=2', DOC_PARAMS, good)],
    ];
    for (const [what, verdict] of rejected) expect(await verdict, what).toBe(false);
  });

  it('verify accepts the parameters in any order', async () => {
    const good = await computeTwilioSignature(DOC_TOKEN, DOC_URL, DOC_PARAMS);
    const entries = Object.entries(DOC_PARAMS);
    for (const order of [entries.slice().reverse(), [entries[2]!, entries[0]!, entries[4]!, entries[1]!, entries[3]!]]) {
      expect(await verifyTwilioSignature(DOC_TOKEN, DOC_URL, new URLSearchParams(order), good)).toBe(true);
      expect(await verifyTwilioSignature(DOC_TOKEN, DOC_URL, Object.fromEntries(order), good)).toBe(true);
    }
  });

  it("the simulator's signed callbacks verify with the adapter's check", async () => {
    const received: Array<{ url: string; body: string; signature: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body, signature: String(req.headers['x-twilio-signature'] ?? '') });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const sim = await startSim({ timeScale: 0.001, outcomes: { completed: 1, 'no-answer': 0, busy: 0, failed: 0 } });
    try {
      const provider = new TwilioProvider({ accountSid: sim.accountSid, authToken: sim.authToken, baseUrl: sim.url });
      const callbackUrl = `http://127.0.0.1:${port}/functions/v1/call-status?call_id=41`;
      const outcome = await provider.createCall({
        callId: '41',
        to: freshPhone(),
        from: '+15559990000',
        statusCallbackUrl: callbackUrl,
        settings: { twiml: '<Response/>' },
        timeoutMs: 2000,
      });
      expect(outcome.kind).toBe('accepted');
      await waitFor('four status callbacks', () => received.length >= 4);
      for (const cb of received) {
        const params = new URLSearchParams(cb.body);
        expect(await verifyTwilioSignature(sim.authToken, `http://127.0.0.1:${port}${cb.url}`, params, cb.signature)).toBe(true);
        expect(await verifyTwilioSignature(randomBytes(16).toString('hex'), callbackUrl, params, cb.signature)).toBe(false);
        const update = parseTwilioStatusCallback(params, new URL(callbackUrl));
        expect(update.callId).toBe('41');
        expect(update.providerCallId).toBe((outcome as { providerCallId: string }).providerCallId);
      }
      expect(received.map((cb) => new URLSearchParams(cb.body).get('CallStatus'))).toEqual([
        'initiated',
        'ringing',
        'in-progress',
        'completed',
      ]);
    } finally {
      await sim.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
