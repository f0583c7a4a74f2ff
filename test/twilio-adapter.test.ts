// The Twilio adapter's decisions without a network: how each answer becomes an outcome, the Create
// Call parameters, Retry-After, status callbacks, network errors, and the request the adapter puts
// on the wire (through an injected fetch). No database.

import { describe, expect, it } from 'vitest';
import { coerceError } from '../supabase/functions/_shared/errors.ts';
import type { CreateCallRequest } from '../supabase/functions/_shared/provider.ts';
import {
  buildCreateCallParams,
  classifyCreateCallResponse,
  isConnectionNeverMade,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  parseTwilioStatusCallback,
  TWILIO_CAMPAIGN_LEVEL_CODES,
  TWILIO_INVALID_NUMBER_CODES,
  TwilioProvider,
} from '../supabase/functions/_shared/twilio.ts';
import {
  optOutKey,
  optOutUrl,
  signCallUrl,
  signOptOut,
  verifyCallUrl,
  verifyOptOut,
} from '../supabase/functions/_shared/opt-out.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const twilioError = (code: number, status: number) =>
  JSON.stringify({ code, message: `error ${code}`, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
const classify = (status: number, body: string, headers: Record<string, string> = {}) =>
  classifyCreateCallResponse(status, new Headers(headers), body, NOW);

describe('the answer URL', () => {
  it("is refused when http:// (the call's flow in clear) unless allowInsecureUrls (ALLOW_INSECURE_URLS, local development)", () => {
    const req = {
      to: '+15551230000',
      from: '+15559990000',
      statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
      settings: { url: 'http://agent.example/answer' },
    };
    const refused = buildCreateCallParams(req);
    expect(refused).toMatchObject({ ok: false, invalidNumber: false });
    expect(refused.ok ? '' : refused.reason).toMatch(/^malformed campaign: url must be https:\/\/.*ALLOW_INSECURE_URLS=1/);
    expect(buildCreateCallParams(req, { allowInsecureUrls: true }).ok).toBe(true);
    expect(buildCreateCallParams({ ...req, settings: { url: 'https://agent.example/answer' } }).ok).toBe(true);
  });

  it('inline TwiML: {{context_url}} and {{opt_out_url}} replaced, XML-escaped; the length limit counts them', () => {
    const req = {
      to: '+15551230000',
      from: '+15559990000',
      statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
      contextUrl: 'https://fn.example/call-status/context?call_id=7&sig=abc',
      optOutUrl: 'https://fn.example/call-status/opt-out?call_id=7&sig=def',
    };
    const built = buildCreateCallParams({
      ...req,
      settings: { twiml: '<Response><Parameter name="c" value="{{context_url}}"/><Say>{{opt_out_url}}</Say></Response>' },
    });
    expect(built.ok && built.params.get('Twiml')).toBe(
      '<Response><Parameter name="c" value="https://fn.example/call-status/context?call_id=7&amp;sig=abc"/>' +
        '<Say>https://fn.example/call-status/opt-out?call_id=7&amp;sig=def</Say></Response>',
    );
    // Without the URLs (none was made) the placeholders go empty; TwiML without them is sent as it is.
    const bare = buildCreateCallParams({ ...req, contextUrl: undefined, settings: { twiml: '<Say>{{context_url}}</Say>' } });
    expect(bare.ok && bare.params.get('Twiml')).toBe('<Say></Say>');
    // Under 4000 characters as written, over it with the URLs in place: refused, saying so.
    const long = buildCreateCallParams({ ...req, settings: { twiml: `<Say>${'a'.repeat(3970)}</Say>{{context_url}}` } });
    expect(long).toMatchObject({ ok: false, reason: expect.stringContaining("with the call's URLs in place") });
  });

  it('signs each purpose apart: a context signature is no opt-out signature', async () => {
    const key = await optOutKey('0123456789abcdef0123456789abcdef', 'unused');
    const context = { label: 'context', subpath: '/context' };
    const sig = await signCallUrl(key, context, '7');
    expect(await verifyCallUrl(key, context, '7', sig)).toBe(true);
    expect(await verifyCallUrl(key, context, '8', sig)).toBe(false);
    expect(await verifyOptOut(key, '7', sig)).toBe(false);
    expect(await verifyCallUrl(key, context, '7', await signOptOut(key, '7'))).toBe(false);
  });

  it("carries call_id and contact_id, keeping the campaign's own query parameters", () => {
    const built = buildCreateCallParams({
      to: '+15551230000',
      from: '+15559990000',
      statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
      settings: { url: 'https://agent.example/answer?agent=sales&call_id=forged' },
      callId: '7',
      contactId: '42',
    });
    expect(built.ok && built.params.get('Url')).toBe('https://agent.example/answer?agent=sales&call_id=7&contact_id=42');
  });

  const answerUrl = (contactName: string | null | undefined, url = 'https://agent.example/answer?agent=sales') => {
    const built = buildCreateCallParams({
      to: '+15551230000',
      from: '+15559990000',
      statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
      settings: { url },
      callId: '7',
      contactId: '42',
      contactName,
    });
    if (!built.ok) throw new Error(built.reason);
    return built.params.get('Url') ?? '';
  };

  it("carries the contact's name URL-encoded: spaces, &, =, #, + and unicode survive the round trip", () => {
    const names = ["Ann O'Neil & Sons", 'a=b#c+d?e/f', 'José Müller-Łukasz', '山田 太郎', 'Zoë 👋', '100% sure'];
    for (const name of names) {
      const raw = answerUrl(name);
      // Nothing of the name breaks out of its parameter: one contact_name, the others intact.
      expect(raw, name).not.toMatch(/[ #\u0080-\uffff]/);
      const url = new URL(raw);
      expect(url.searchParams.getAll('contact_name'), name).toEqual([name]);
      expect(Object.fromEntries(url.searchParams), name).toEqual({
        agent: 'sales',
        call_id: '7',
        contact_id: '42',
        contact_name: name,
      });
    }
    expect(answerUrl('Ann & Bob')).toBe(
      'https://agent.example/answer?agent=sales&call_id=7&contact_id=42&contact_name=Ann+%26+Bob',
    );
    expect(answerUrl('José')).toBe('https://agent.example/answer?agent=sales&call_id=7&contact_id=42&contact_name=Jos%C3%A9');
  });

  it('a contact without a name gets no contact_name (null, absent, empty, blanks), and a forged one is dropped', () => {
    for (const name of [null, undefined, '', '   ']) {
      const url = new URL(answerUrl(name, 'https://agent.example/answer?contact_name=forged&agent=sales'));
      expect(url.searchParams.has('contact_name'), String(name)).toBe(false);
      expect(Object.fromEntries(url.searchParams)).toEqual({ agent: 'sales', call_id: '7', contact_id: '42' });
    }
    expect(new URL(answerUrl('  Ann  ', 'https://agent.example/answer?contact_name=forged')).searchParams.getAll('contact_name'))
      .toEqual(['Ann']);
  });

  it('carries the signed opt_out_url (one parameter, URL-encoded, replacing a forged one) and verifies only for its call', async () => {
    const key = await optOutKey('k'.repeat(32), 'twilio-token');
    const optOut = await optOutUrl('https://project.supabase.co/functions/v1', key, '7');
    const built = buildCreateCallParams({
      to: '+15551230000',
      from: '+15559990000',
      statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
      settings: { url: 'https://agent.example/answer?opt_out_url=https%3A%2F%2Fevil.example' },
      callId: '7',
      optOutUrl: optOut,
    });
    if (!built.ok) throw new Error(built.reason);
    const answer = new URL(built.params.get('Url')!);
    expect(answer.searchParams.getAll('opt_out_url')).toEqual([optOut]);
    const signed = new URL(optOut);
    expect(signed.pathname).toBe('/functions/v1/call-status/opt-out');
    expect(signed.searchParams.get('call_id')).toBe('7');
    const sig = signed.searchParams.get('sig');
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await verifyOptOut(key, '7', sig)).toBe(true);
    expect(await verifyOptOut(key, '8', sig)).toBe(false);
    expect(await verifyOptOut(key, '7', null)).toBe(false);
    expect(await verifyOptOut(key, '07', sig)).toBe(false);
    expect(await verifyOptOut(await optOutKey(undefined, 'twilio-token'), '7', sig)).toBe(false);
    // Without OPT_OUT_SECRET the key comes from the auth token, never the token itself.
    const derived = await optOutKey(undefined, 'twilio-token');
    expect(await signOptOut(derived, '7')).toBe(await signOptOut(await optOutKey(undefined, 'twilio-token'), '7'));
    expect(await signOptOut(derived, '7')).not.toBe(await signOptOut(await optOutKey('twilio-token', 'x'), '7'));
  });

  it('Twiml and ApplicationSid carry nothing of the contact (no URL to extend; Twilio passes an application only its own parameters)', () => {
    for (const settings of [{ twiml: '<Response><Say>Hi</Say></Response>' }, { application_sid: `AP${'0'.repeat(32)}` }]) {
      const built = buildCreateCallParams({
        to: '+15551230000',
        from: '+15559990000',
        statusCallbackUrl: 'https://fn.example/call-status?call_id=7',
        settings,
        callId: '7',
        contactId: '42',
        contactName: 'Ann',
      });
      expect(built.ok).toBe(true);
      const sent = built.ok ? built.params.toString() : '';
      expect(sent).not.toContain('Ann');
      expect(sent).not.toContain('contact_id');
      expect(built.ok && built.params.get('Url')).toBeNull();
    }
  });
});

describe('classifyCreateCallResponse', () => {
  it('2xx with a call sid is accepted; a just-created call is dialing unless Twilio says ringing', () => {
    const sid = 'CA0123456789abcdef0123456789abcdef';
    expect(classify(201, JSON.stringify({ sid, status: 'queued' }))).toEqual({
      kind: 'accepted',
      providerCallId: sid,
      status: 'dialing',
    });
    expect(classify(201, JSON.stringify({ sid, status: 'initiated' }))).toMatchObject({ status: 'dialing' });
    expect(classify(201, JSON.stringify({ sid, status: 'ringing' }))).toMatchObject({ status: 'ringing' });
    expect(classify(200, JSON.stringify({ sid, status: 'completed' }))).toMatchObject({ status: 'dialing' });
    expect(classify(201, JSON.stringify({ sid }))).toMatchObject({ kind: 'accepted', status: 'dialing' });
  });

  it('2xx without a readable call sid is unknown (never re-sent)', () => {
    for (const body of ['', 'not json', '{}', '{"sid":""}', '{"sid":"CA 1"}', '[]', 'null']) {
      expect(classify(201, body).kind, body).toBe('unknown');
    }
  });

  it('429 (code 20429) is retryable and honours Retry-After in seconds or as a date', () => {
    expect(classify(429, twilioError(20429, 429), { 'retry-after': '3' })).toEqual({
      kind: 'retryable',
      reason: expect.stringContaining('20429'),
      code: '20429',
      httpStatus: 429,
      retryAfterMs: 3000,
    });
    expect(classify(429, twilioError(20429, 429), { 'retry-after': new Date(NOW + 12_000).toUTCString() })).toMatchObject({
      retryAfterMs: 12_000,
    });
    const noHeader = classify(429, '');
    expect(noHeader).toMatchObject({ kind: 'retryable', httpStatus: 429 });
    expect(noHeader).not.toHaveProperty('retryAfterMs');
  });

  it('503 is retryable; 500, 502, 504 and other 5xx are unknown', () => {
    expect(classify(503, twilioError(20503, 503), { 'retry-after': '5' })).toMatchObject({
      kind: 'retryable',
      httpStatus: 503,
      retryAfterMs: 5000,
    });
    for (const status of [500, 501, 502, 504, 520, 599]) {
      expect(classify(status, twilioError(20500, status)).kind, String(status)).toBe('unknown');
      expect(classify(status, '<html>Bad gateway</html>').kind, String(status)).toBe('unknown');
    }
  });

  it('408 is unknown: only a proxy sends it', () => {
    expect(classify(408, '').kind).toBe('unknown');
  });

  it('the codes that mean a bad destination are permanent with invalidNumber', () => {
    for (const code of [21211, 21214, 21217, 21401, 21407, 13223, 13224]) {
      expect(TWILIO_INVALID_NUMBER_CODES.has(code)).toBe(true);
      expect(classify(400, twilioError(code, 400))).toEqual({
        kind: 'permanent',
        reason: expect.stringContaining(String(code)),
        code: String(code),
        httpStatus: 400,
        invalidNumber: true,
      });
    }
  });

  it('our own mistakes are permanent without invalidNumber: From, credentials, Url, account', () => {
    for (
      const [code, status] of [
        [21210, 400],
        [21212, 400],
        [21205, 400],
        [20003, 401],
        [20404, 404],
        [21215, 400],
        [21216, 400],
      ] as const
    ) {
      expect(classify(status, twilioError(code, status))).toMatchObject({
        kind: 'permanent',
        code: String(code),
        httpStatus: status,
        invalidNumber: false,
      });
    }
    expect(classify(403, '')).toMatchObject({ kind: 'permanent', httpStatus: 403, invalidNumber: false });
    expect(classify(400, 'garbage')).not.toHaveProperty('code');
  });

  it('the codes that refuse the campaign or the account are campaignLevel (the campaign pauses), the others are not', () => {
    expect([...TWILIO_CAMPAIGN_LEVEL_CODES.keys()].sort()).toEqual([10001, 20003, 20005, 21205, 21210, 21212, 21213]);
    for (
      const [code, status] of [[21210, 400], [21212, 400], [21213, 400], [21205, 400], [20003, 401], [20005, 401], [
        10001,
        403,
      ]] as const
    ) {
      const out = classify(status, twilioError(code, status));
      expect(out).toMatchObject({ kind: 'permanent', code: String(code), invalidNumber: false, campaignLevel: true });
      // The reason says what is wrong in words, and keeps Twilio's answer.
      expect(out.kind === 'permanent' ? out.reason : '').toBe(
        `${TWILIO_CAMPAIGN_LEVEL_CODES.get(code)}: Twilio answered HTTP ${status} code ${code}: error ${code}`,
      );
    }
    // About this destination only (bad number, geographic permission, blocked), or unknown: not campaign-level.
    for (const [code, status] of [[21211, 400], [21217, 400], [21215, 400], [21216, 400], [20404, 404], [21609, 400]] as const) {
      expect(classify(status, twilioError(code, status))).not.toHaveProperty('campaignLevel');
    }
    expect(classify(403, '')).not.toHaveProperty('campaignLevel');
  });

  it('a redirect is permanent: the base URL is wrong', () => {
    expect(classify(301, '', { location: 'https://elsewhere.example/' })).toMatchObject({
      kind: 'permanent',
      httpStatus: 301,
      invalidNumber: false,
    });
  });

  it('accepts the error code as a string too', () => {
    expect(classify(400, JSON.stringify({ code: '21211', message: 'x' }))).toMatchObject({ code: '21211', invalidNumber: true });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds (also fractional), dates, and caps long waits', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 2 ', NOW)).toBe(2000);
    expect(parseRetryAfter('1.5', NOW)).toBe(1500);
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter('86400', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });
  it('ignores what it cannot read', () => {
    for (const v of [null, '', 'soon', '-5', '1e3']) expect(parseRetryAfter(v, NOW)).toBeUndefined();
  });
});

const base = {
  to: '+15555550100',
  from: '+15005550006',
  statusCallbackUrl: 'https://project.supabase.co/functions/v1/call-status?call_id=9',
};

describe('buildCreateCallParams', () => {
  it('sends To, From, the one instruction, StatusCallback with every event as its own parameter, POST', () => {
    const r = buildCreateCallParams({ ...base, settings: { twiml: '<Response/>' } });
    expect(r.ok).toBe(true);
    const p = (r as { params: URLSearchParams }).params;
    expect([...p]).toEqual([
      ['To', '+15555550100'],
      ['From', '+15005550006'],
      ['Twiml', '<Response/>'],
      ['StatusCallback', base.statusCallbackUrl],
      ['StatusCallbackEvent', 'initiated'],
      ['StatusCallbackEvent', 'ringing'],
      ['StatusCallbackEvent', 'answered'],
      ['StatusCallbackEvent', 'completed'],
      ['StatusCallbackMethod', 'POST'],
    ]);
  });

  it('takes Url (with Method) or ApplicationSid, machine detection and the ring timeout', () => {
    const url = buildCreateCallParams({
      ...base,
      settings: { url: 'https://example.com/t', method: 'get', machine_detection: true, timeout: '30' },
    });
    const p = (url as { params: URLSearchParams }).params;
    expect(p.get('Url')).toBe('https://example.com/t');
    expect(p.get('Method')).toBe('GET');
    expect(p.get('MachineDetection')).toBe('Enable');
    expect(p.get('Timeout')).toBe('30');
    expect(p.has('Twiml')).toBe(false);
    const app = buildCreateCallParams({
      ...base,
      settings: { application_sid: `AP${'a'.repeat(32)}`, machine_detection: 'detectmessageend' },
    });
    const q = (app as { params: URLSearchParams }).params;
    expect(q.get('ApplicationSid')).toBe(`AP${'a'.repeat(32)}`);
    expect(q.get('MachineDetection')).toBe('DetectMessageEnd');
    expect(q.has('Timeout')).toBe(false);
  });

  it('refuses a malformed campaign: no instruction, two, or bad values (no default TwiML)', () => {
    // No call action, or two: the database never dispatches such a campaign (set_up_problem).
    for (const settings of [{}, { twiml: '' }, { twiml: '<Response/>', application_sid: `AP${'a'.repeat(32)}` }]) {
      expect(() => buildCreateCallParams({ ...base, settings }), JSON.stringify(settings)).toThrow(/set_up_problem/);
    }
    for (
      const settings of [
        { url: 'not a url' },
        { url: '/relative' },
        { twiml: 'x'.repeat(4001) },
        { application_sid: 'AP123' },
        { twiml: '<Response/>', machine_detection: 'yes' },
        { twiml: '<Response/>', timeout: 0 },
        { twiml: '<Response/>', timeout: 601 },
        { twiml: '<Response/>', timeout: 1.5 },
        { url: 'https://example.com/t', method: 'PUT' },
      ]
    ) {
      const r = buildCreateCallParams({ ...base, settings });
      expect(r, JSON.stringify(settings)).toMatchObject({
        ok: false,
        invalidNumber: false,
        reason: expect.stringMatching(/^malformed campaign: /),
      });
    }
  });

  it('refuses a To that is not E.164 as an invalid number; a missing From or callback URL as malformed', () => {
    for (const to of ['', '5550100', '+0123', '+1 555 555 0100', '+1234567890123456']) {
      expect(buildCreateCallParams({ ...base, to, settings: { twiml: 'x' } })).toMatchObject({ ok: false, invalidNumber: true });
    }
    expect(buildCreateCallParams({ ...base, from: ' ', settings: { twiml: 'x' } })).toMatchObject({
      ok: false,
      invalidNumber: false,
    });
    expect(buildCreateCallParams({ ...base, statusCallbackUrl: '/call-status', settings: { twiml: 'x' } })).toMatchObject({
      ok: false,
      invalidNumber: false,
    });
  });
});

describe('parseTwilioStatusCallback', () => {
  const url = new URL('https://project.supabase.co/functions/v1/call-status?call_id=123');

  it('reads every field Twilio sends', () => {
    const params = new URLSearchParams({
      CallSid: 'CA0123456789abcdef0123456789abcdef',
      CallStatus: 'completed',
      CallDuration: '42',
      ErrorCode: '',
      AnsweredBy: 'machine_start',
      Timestamp: 'Sat, 28 Nov 2026 13:45:01 +0000',
      SequenceNumber: '3',
    });
    expect(parseTwilioStatusCallback(params, url)).toEqual({
      callId: '123',
      providerCallId: 'CA0123456789abcdef0123456789abcdef',
      status: 'completed',
      durationSeconds: 42,
      answeredBy: 'machine_start',
      timestamp: '2026-11-28T13:45:01.000Z',
      sequenceNumber: 3,
    });
  });

  it('keeps an error code, and leaves out what is absent or unreadable', () => {
    const params = new URLSearchParams({
      CallSid: 'CA1',
      CallStatus: 'failed',
      ErrorCode: '31005',
      CallDuration: 'x',
      Timestamp: 'yesterday',
    });
    expect(parseTwilioStatusCallback(params, new URL('https://h/call-status'))).toEqual({
      callId: null,
      providerCallId: 'CA1',
      status: 'failed',
      errorCode: '31005',
    });
  });

  it('throws on a missing CallSid or a status Twilio does not have', () => {
    expect(() => parseTwilioStatusCallback(new URLSearchParams({ CallStatus: 'completed' }), url)).toThrow(/CallSid/);
    expect(() => parseTwilioStatusCallback(new URLSearchParams({ CallSid: 'CA1', CallStatus: 'exploded' }), url)).toThrow(
      /CallStatus/,
    );
    expect(() => parseTwilioStatusCallback(new URLSearchParams({ CallSid: 'CA1' }), url)).toThrow(/CallStatus/);
  });
});

describe('isConnectionNeverMade', () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
  it('recognises connect failures from Node (also inside an AggregateError) and from Deno', () => {
    expect(
      isConnectionNeverMade(
        new TypeError('fetch failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:9', 'ECONNREFUSED') }),
      ),
    ).toBe(true);
    const aggregate = Object.assign(new AggregateError([withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')]), {
      code: 'ECONNREFUSED',
    });
    expect(isConnectionNeverMade(new TypeError('fetch failed', { cause: aggregate }))).toBe(true);
    expect(
      isConnectionNeverMade(
        new TypeError('error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)'),
      ),
    ).toBe(true);
    expect(
      isConnectionNeverMade(new TypeError('fetch failed', { cause: withCode('getaddrinfo ENOTFOUND api.example', 'ENOTFOUND') })),
    ).toBe(true);
  });
  it('anything that may have happened after sending is not', () => {
    expect(isConnectionNeverMade(new TypeError('fetch failed', { cause: withCode('read ECONNRESET', 'ECONNRESET') }))).toBe(
      false,
    );
    expect(isConnectionNeverMade(new TypeError('fetch failed', { cause: withCode('other side closed', 'UND_ERR_SOCKET') }))).toBe(
      false,
    );
    expect(isConnectionNeverMade(new DOMException('The operation was aborted', 'AbortError'))).toBe(false);
    expect(isConnectionNeverMade('ECONNREFUSED')).toBe(false);
    expect(isConnectionNeverMade(null)).toBe(false);
  });
});

describe('TwilioProvider with an injected fetch', () => {
  const req = (over: Partial<CreateCallRequest> = {}): CreateCallRequest => ({
    callId: '77',
    ...base,
    settings: { twiml: '<Response/>' },
    timeoutMs: 5000,
    ...over,
  });

  it('POSTs the form to Calls.json with HTTP Basic auth', async () => {
    const seen: Array<{ url: string; init: RequestInit }> = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      seen.push({ url: String(input), init: init ?? {} });
      return new Response(JSON.stringify({ sid: 'CA0123456789abcdef0123456789abcdef', status: 'queued' }), { status: 201 });
    };
    const p = new TwilioProvider({ accountSid: 'AC0001', authToken: 's3cr:et', baseUrl: 'https://api.example.test/', fetch });
    expect(p.name).toBe('twilio');
    expect(await p.createCall(req())).toMatchObject({ kind: 'accepted' });
    expect(seen).toHaveLength(1);
    const { url, init } = seen[0]!;
    expect(url).toBe('https://api.example.test/2010-04-01/Accounts/AC0001/Calls.json');
    expect(init.method).toBe('POST');
    const headers = new Headers(init.headers);
    expect(headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(Buffer.from(headers.get('authorization')!.replace(/^Basic /, ''), 'base64').toString()).toBe('AC0001:s3cr:et');
    const body = new URLSearchParams(String(init.body));
    expect(body.get('To')).toBe(base.to);
    expect(body.getAll('StatusCallbackEvent')).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(init.signal).toBeInstanceOf(AbortSignal);
    expect(init.redirect).toBe('manual');
  });

  it('maps what fetch throws: refused -> retryable, reset or abort -> unknown; never throws itself', async () => {
    const throwing = (err: unknown): typeof globalThis.fetch => async () => {
      throw err;
    };
    const make = (err: unknown) => new TwilioProvider({ accountSid: 'AC1', authToken: 't', fetch: throwing(err) });
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    const reset = new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    expect((await make(refused).createCall(req())).kind).toBe('retryable');
    expect((await make(reset).createCall(req())).kind).toBe('unknown');
    expect((await make(new DOMException('aborted', 'AbortError')).createCall(req())).kind).toBe('unknown');
    expect((await make('a string').createCall(req())).kind).toBe('unknown');
  });

  it('a 201 whose body is lost is unknown', async () => {
    const body = new ReadableStream({
      start(c) {
        c.error(new Error('socket hang up'));
      },
    });
    const p = new TwilioProvider({ accountSid: 'AC1', authToken: 't', fetch: async () => new Response(body, { status: 201 }) });
    expect(await p.createCall(req())).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/body was lost/) });
  });

  it('sends nothing for a malformed campaign or an already aborted signal', async () => {
    let calls = 0;
    const p = new TwilioProvider({
      accountSid: 'AC1',
      authToken: 't',
      fetch: async () => {
        calls++;
        return new Response('{}', { status: 500 });
      },
    });
    expect((await p.createCall(req({ settings: {} }))).kind).toBe('permanent');
    const ctl = new AbortController();
    ctl.abort();
    expect((await p.createCall(req({ signal: ctl.signal }))).kind).toBe('retryable');
    expect(calls).toBe(0);
  });

  it('needs credentials', () => {
    expect(() => new TwilioProvider({ accountSid: '', authToken: 't' })).toThrow();
    expect(() => new TwilioProvider({ accountSid: 'AC1', authToken: '' })).toThrow();
  });
});

describe('coerceError', () => {
  it('keeps Errors, wraps strings and error-like objects, describes the rest', () => {
    const e = new RangeError('x');
    expect(coerceError(e)).toBe(e);
    expect(coerceError('boom').message).toBe('boom');
    const like = coerceError({ name: 'PgError', message: 'relation does not exist' });
    expect(like).toBeInstanceOf(Error);
    expect(like.message).toBe('relation does not exist');
    expect(like.name).toBe('PgError');
    expect(coerceError(42).message).toBe('non-error thrown: 42');
    expect(coerceError(undefined).message).toMatch(/non-error thrown/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(coerceError(circular).message).toMatch(/non-error thrown: \[object Object\]/);
  });
});
