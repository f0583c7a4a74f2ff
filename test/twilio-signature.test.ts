// X-Twilio-Signature: computeTwilioSignature / verifyTwilioSignature against Twilio's published
// examples and against an HMAC computed here, independently, with node:crypto. No database.

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeTwilioSignature, verifyTwilioSignature } from '../supabase/functions/_shared/twilio.ts';

/** Twilio's scheme written out the plain way: URL, then name+value for names in sorted order. */
function referenceSignature(token: string, url: string, params: Array<[string, string]>): string {
  const names = [...new Set(params.map(([k]) => k))].sort();
  let data = url;
  for (const name of names) {
    const values = [...new Set(params.filter(([k]) => k === name).map(([, v]) => v))].sort();
    for (const v of values) data += name + v;
  }
  return createHmac('sha1', token).update(data, 'utf8').digest('base64');
}

// Twilio's documentation example ("Validating signatures from Twilio"): auth token 12345.
const DOC_TOKEN = '12345';
const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const docParams = (caller: string) => ({
  CallSid: 'CA1234567890ABCDE',
  Caller: caller,
  Digits: '1234',
  From: caller,
  To: '+18005551212',
});

// A status callback as the call-status function receives it.
const TOKEN = 'f3b1c0ffee5e1b2a9d4c7e6f80a1b2c3';
const URL_ = 'https://project.supabase.co/functions/v1/call-status?call_id=123';
const CALLBACK: Array<[string, string]> = [
  ['AccountSid', 'AC0123456789abcdef0123456789abcdef'],
  ['ApiVersion', '2010-04-01'],
  ['CallSid', 'CAfedcba9876543210fedcba9876543210'],
  ['CallStatus', 'completed'],
  ['CallDuration', '42'],
  ['CallbackSource', 'call-progress-events'],
  ['Direction', 'outbound-api'],
  ['From', '+15005550006'],
  ['To', '+447700900123'],
  ['SequenceNumber', '3'],
  ['Timestamp', 'Sat, 28 Nov 2026 13:45:01 +0000'],
];
const form = (pairs: Array<[string, string]>) => new URLSearchParams(pairs);

describe('computeTwilioSignature', () => {
  it("reproduces Twilio's published examples", async () => {
    expect(await computeTwilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675310'))).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
    expect(await computeTwilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675309'))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('equals an HMAC-SHA1 computed independently with node:crypto', async () => {
    expect(await computeTwilioSignature(TOKEN, URL_, form(CALLBACK))).toBe(referenceSignature(TOKEN, URL_, CALLBACK));
  });

  it('gives the same answer for URLSearchParams and a plain record', async () => {
    const record = Object.fromEntries(CALLBACK);
    expect(await computeTwilioSignature(TOKEN, URL_, record)).toBe(await computeTwilioSignature(TOKEN, URL_, form(CALLBACK)));
  });

  it('signs non-ASCII values as UTF-8', async () => {
    const pairs: Array<[string, string]> = [
      ['CallerName', 'Zoë Ångström 電話'],
      ['CallSid', 'CA1'],
    ];
    expect(await computeTwilioSignature(TOKEN, URL_, form(pairs))).toBe(referenceSignature(TOKEN, URL_, pairs));
  });

  it('signs the values of a repeated name sorted, as Twilio helper libraries do', async () => {
    const pairs: Array<[string, string]> = [
      ['StatusCallbackEvent', 'ringing'],
      ['StatusCallbackEvent', 'completed'],
      ['To', '+15555550100'],
    ];
    const expected = referenceSignature(TOKEN, URL_, pairs);
    expect(await computeTwilioSignature(TOKEN, URL_, form(pairs))).toBe(expected);
    expect(await computeTwilioSignature(TOKEN, URL_, { StatusCallbackEvent: ['ringing', 'completed'], To: '+15555550100' })).toBe(
      expected,
    );
  });

  it('matches the node:crypto reference for arbitrary URLs and parameters', async () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 24 }),
        fc.webUrl({ withQueryParameters: true }),
        fc.uniqueArray(fc.tuple(name, fc.string({ maxLength: 20 })), { selector: ([k]) => k, maxLength: 12 }),
        async (token, url, pairs) => {
          expect(await computeTwilioSignature(token, url, form(pairs))).toBe(referenceSignature(token, url, pairs));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('verifyTwilioSignature', () => {
  const good = referenceSignature(TOKEN, URL_, CALLBACK);

  it("accepts Twilio's published examples", async () => {
    expect(await verifyTwilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675310'), 'GvWf1cFY/Q7PnoempGyD5oXAezc=')).toBe(true);
    expect(await verifyTwilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675309'), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(true);
  });

  it('accepts the signature computed independently', async () => {
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), good)).toBe(true);
  });

  it('accepts the parameters in any order in the body', async () => {
    const reversed = [...CALLBACK].reverse();
    const shuffled = [...CALLBACK.slice(5), ...CALLBACK.slice(0, 5)];
    expect(await verifyTwilioSignature(TOKEN, URL_, form(reversed), good)).toBe(true);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(shuffled), good)).toBe(true);
  });

  it('refuses the wrong auth token, an empty token and a missing header', async () => {
    expect(await verifyTwilioSignature('f3b1c0ffee5e1b2a9d4c7e6f80a1b2c4', URL_, form(CALLBACK), good)).toBe(false);
    expect(await verifyTwilioSignature('', URL_, form(CALLBACK), good)).toBe(false);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), '')).toBe(false);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), null)).toBe(false);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), undefined)).toBe(false);
  });

  it('refuses every signature one character away from the right one', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const nearMisses = new Set<string>();
    // Every position, also the last data character (whose low bits base64 leaves unused: a
    // non-canonical spelling of the same HMAC is refused too) and the padding.
    for (let i = 0; i < good.length; i++) {
      const c = good[i]!;
      const replacement = alphabet[(alphabet.indexOf(c) + 1) % alphabet.length]!;
      nearMisses.add(good.slice(0, i) + replacement + good.slice(i + 1));
    }
    nearMisses.add(good.slice(0, -1)); // padding dropped
    nearMisses.add(good.slice(1)); // first character dropped
    nearMisses.add(`${good}A`);
    nearMisses.add(good.toLowerCase());
    nearMisses.add(Buffer.from(good, 'base64').toString('hex')); // the right HMAC, wrong encoding
    expect(nearMisses.size).toBeGreaterThan(25);
    for (const sig of nearMisses) {
      expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), sig), sig).toBe(false);
    }
  });

  it('refuses tampered, added and removed parameters', async () => {
    const tampered = CALLBACK.map(([k, v]): [string, string] => [k, k === 'CallStatus' ? 'busy' : v]);
    const added: Array<[string, string]> = [...CALLBACK, ['AnsweredBy', 'human']];
    const removed = CALLBACK.filter(([k]) => k !== 'CallDuration');
    const renamed = CALLBACK.map(([k, v]): [string, string] => [k === 'To' ? 'to' : k, v]);
    for (const pairs of [tampered, added, removed, renamed]) {
      expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), good)).toBe(false);
    }
  });

  it('refuses a different URL: another call id, path, scheme, host or port', async () => {
    for (
      const url of [
        'https://project.supabase.co/functions/v1/call-status?call_id=124',
        'https://project.supabase.co/functions/v1/call-status',
        'https://project.supabase.co/functions/v1/call-statuz?call_id=123',
        'http://project.supabase.co/functions/v1/call-status?call_id=123',
        'https://other.supabase.co/functions/v1/call-status?call_id=123',
        'https://project.supabase.co:8443/functions/v1/call-status?call_id=123',
      ]
    ) {
      expect(await verifyTwilioSignature(TOKEN, url, form(CALLBACK), good), url).toBe(false);
    }
  });

  it('accepts the URL with its default port written out or left out, as Twilio signs either', async () => {
    const withPort = 'https://project.supabase.co:443/functions/v1/call-status?call_id=123';
    const signedWithPort = referenceSignature(TOKEN, withPort, CALLBACK);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), signedWithPort)).toBe(true);
    expect(await verifyTwilioSignature(TOKEN, withPort, form(CALLBACK), good)).toBe(true);
  });

  it('accepts a repeated name signed sorted or in the order received, nothing else', async () => {
    const pairs: Array<[string, string]> = [
      ['Tag', 'b'],
      ['Tag', 'a'],
      ['To', '+15555550100'],
    ];
    const sorted = referenceSignature(TOKEN, URL_, pairs);
    const received = createHmac('sha1', TOKEN).update(`${URL_}TagbTagaTo+15555550100`).digest('base64');
    const dropped = createHmac('sha1', TOKEN).update(`${URL_}TagbTo+15555550100`).digest('base64');
    expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), sorted)).toBe(true);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), received)).toBe(true);
    expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), dropped)).toBe(false);
  });

  it('ignores whitespace around the header value', async () => {
    expect(await verifyTwilioSignature(TOKEN, URL_, form(CALLBACK), ` ${good}\t`)).toBe(true);
  });

  it('refuses any one-character change of a valid signature (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.stringMatching(/^[A-Z][a-z]{0,8}$/), fc.string({ maxLength: 12 })), {
          selector: ([k]) => k,
          maxLength: 8,
        }),
        fc.nat({ max: 27 }),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'),
        async (pairs, at, ch) => {
          const sig = referenceSignature(TOKEN, URL_, pairs);
          expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), sig)).toBe(true);
          fc.pre(sig[at] !== ch);
          const changed = sig.slice(0, at) + ch + sig.slice(at + 1);
          expect(await verifyTwilioSignature(TOKEN, URL_, form(pairs), changed)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });
});
