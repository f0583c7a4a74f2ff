// The Vapi and Retell adapters' pure parts, table by table as docs/PROVIDERS.md writes them: how a
// create-call answer becomes one of the four kinds, how each platform's statuses and end reasons
// become ours, and the Retell signature (the simulator's node:crypto signer against the adapter's
// crypto.subtle check). No network.

import { describe, expect, it } from 'vitest';
import type { ClassifyRules } from '../supabase/functions/_shared/providers/json-api.ts';
import { classifyJsonAnswer } from '../supabase/functions/_shared/providers/json-api.ts';
import { mapVapiCallStatus, parseVapiServerMessage } from '../supabase/functions/_shared/providers/vapi.ts';
import {
  mapRetellCallStatus,
  parseRetellEvent,
  RETELL_SIGNATURE_TOLERANCE_MS,
  verifyRetellSignature,
} from '../supabase/functions/_shared/providers/retell.ts';
import { signRetell } from '../scripts/twilio-sim/retell.ts';

const RULES: ClassifyRules = {
  label: 'Retell',
  callId: (b) => (typeof b.call_id === 'string' ? b.call_id : null),
  invalidNumber: /to_number/i,
  campaignLevel: /from_number|agent/i,
};
const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers: new Headers(headers),
  text: typeof body === 'string' ? body : JSON.stringify(body),
});
const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('a create-call answer of a JSON platform', () => {
  const cases: Array<[string, ReturnType<typeof answer>, Record<string, unknown>]> = [
    ['201 with an id', answer(201, { call_id: 'abc123' }), { kind: 'accepted', providerCallId: 'abc123', status: 'dialing' }],
    ['201 without an id', answer(201, { nope: 1 }), { kind: 'unknown' }],
    ['201 with a body that is not JSON', answer(201, '<html>'), { kind: 'unknown' }],
    ['429 with Retry-After', answer(429, { message: 'concurrency' }, { 'retry-after': '2' }), {
      kind: 'retryable',
      httpStatus: 429,
      retryAfterMs: 2000,
    }],
    ['503', answer(503, {}), { kind: 'retryable', httpStatus: 503 }],
    ['401', answer(401, { message: 'bad key' }), { kind: 'permanent', campaignLevel: true, invalidNumber: false }],
    ['402', answer(402, { message: 'no payment' }), { kind: 'permanent', campaignLevel: true }],
    ['403', answer(403, {}), { kind: 'permanent', campaignLevel: true }],
    ['404', answer(404, { message: 'agent not found' }), { kind: 'permanent', campaignLevel: true }],
    ['400 about to_number', answer(400, { message: 'to_number is invalid' }), { kind: 'permanent', invalidNumber: true }],
    ['422 about from_number', answer(422, { message: 'from_number not owned' }), {
      kind: 'permanent',
      campaignLevel: true,
      invalidNumber: false,
    }],
    ['400 about something else', answer(400, { message: 'bad metadata' }), { kind: 'permanent', invalidNumber: false }],
    ['408', answer(408, {}), { kind: 'unknown' }],
    ['500', answer(500, {}), { kind: 'unknown' }],
    ['502', answer(502, {}), { kind: 'unknown' }],
    ['504', answer(504, {}), { kind: 'unknown' }],
    ['302', answer(302, ''), { kind: 'permanent', invalidNumber: false }],
  ];
  for (const [name, a, expected] of cases) {
    it(`${name} -> ${String(expected.kind)}`, () => {
      const out = classifyJsonAnswer(a, RULES, NOW);
      expect(out).toMatchObject(expected);
      if (expected.kind === 'permanent' && !expected.campaignLevel) {
        expect((out as { campaignLevel?: boolean }).campaignLevel).toBeFalsy();
      }
    });
  }
  it('a Vapi error body lists its messages', () => {
    const out = classifyJsonAnswer(answer(400, { message: ['customer.number must be a valid phone number'], statusCode: 400 }), {
      ...RULES,
      label: 'Vapi',
      invalidNumber: /customer\.number/,
    });
    expect(out).toMatchObject({
      kind: 'permanent',
      invalidNumber: true,
      reason: 'Vapi answered HTTP 400: customer.number must be a valid phone number',
    });
  });
});

describe('Vapi statuses', () => {
  it.each([
    ['queued', undefined, 'dialing', undefined],
    ['ringing', undefined, 'ringing', undefined],
    ['in-progress', undefined, 'in_progress', undefined],
    ['forwarding', undefined, 'in_progress', undefined],
    ['ended', 'customer-ended-call', 'completed', undefined],
    ['ended', 'voicemail', 'completed', 'machine_start'],
    ['ended', 'customer-busy', 'busy', undefined],
    ['ended', 'customer-did-not-answer', 'no_answer', undefined],
    ['ended', 'manually-canceled', 'canceled', undefined],
    ['ended', 'twilio-failed-to-connect-call', 'failed', undefined],
    ['ended', 'pipeline-error-openai-llm-failed', 'failed', undefined],
  ])('%s / %s -> %s', (status, reason, ours, answeredBy) => {
    expect(mapVapiCallStatus(status, reason)).toEqual({ status: ours, ...(answeredBy ? { answeredBy } : {}) });
  });
  it('an undocumented status is refused, a message about something else is ignored', () => {
    expect(mapVapiCallStatus('teleporting')).toBeNull();
    expect(() => parseVapiServerMessage({ message: { type: 'status-update', status: 'teleporting', call: { id: 'x' } } }))
      .toThrow();
    expect(parseVapiServerMessage({ message: { type: 'transcript', call: { id: 'x' } } })).toBeNull();
    expect(() => parseVapiServerMessage({ message: { type: 'end-of-call-report', call: {} } })).toThrow(/call.id/);
  });
  it('an end-of-call report carries the duration and our call id', () => {
    expect(parseVapiServerMessage({
      message: {
        type: 'end-of-call-report',
        endedReason: 'customer-ended-call',
        durationSeconds: 41.6,
        call: { id: 'v1', metadata: { call_id: '7' } },
      },
    })).toEqual({ callId: '7', providerCallId: 'v1', status: 'completed', durationSeconds: 42 });
  });
});

describe('Retell statuses', () => {
  it.each([
    ['registered', undefined, 'dialing'],
    ['ongoing', undefined, 'in_progress'],
    ['ended', 'user_hangup', 'completed'],
    ['ended', 'agent_hangup', 'completed'],
    ['ended', 'voicemail_reached', 'completed'],
    ['not_connected', 'dial_busy', 'busy'],
    ['not_connected', 'dial_no_answer', 'no_answer'],
    ['not_connected', 'dial_failed', 'failed'],
    ['not_connected', 'invalid_destination', 'failed'],
    ['ended', 'error_llm_websocket_open', 'failed'],
    ['error', undefined, 'failed'],
  ])('%s / %s -> %s', (status, reason, ours) => {
    expect(mapRetellCallStatus(status, reason)?.status).toBe(ours);
  });
  it('call_ended with voicemail_reached is a machine answer; transcript events are ignored', () => {
    expect(parseRetellEvent({
      event: 'call_ended',
      call: {
        call_id: 'r1',
        call_status: 'ended',
        disconnection_reason: 'voicemail_reached',
        duration_ms: 9400,
        metadata: { call_id: 9 },
      },
    })).toEqual({ callId: '9', providerCallId: 'r1', status: 'completed', answeredBy: 'machine_start', durationSeconds: 9 });
    expect(parseRetellEvent({ event: 'transcript_updated', call: { call_id: 'r1' } })).toBeNull();
  });
});

describe('the Retell signature', () => {
  const key = 'key_sim_0123456789abcdef';
  const body = JSON.stringify({ event: 'call_started', call: { call_id: 'r1' } });
  it("the simulator's signature verifies; a tampered body, another key or a stale timestamp do not", async () => {
    const sig = signRetell(key, body, NOW);
    expect(await verifyRetellSignature(key, body, sig, NOW + 1000)).toBe(true);
    expect(await verifyRetellSignature(key, body + ' ', sig, NOW)).toBe(false);
    expect(await verifyRetellSignature('another-key', body, sig, NOW)).toBe(false);
    expect(await verifyRetellSignature(key, body, sig, NOW + RETELL_SIGNATURE_TOLERANCE_MS + 1)).toBe(false);
    expect(await verifyRetellSignature(key, body, 'garbage', NOW)).toBe(false);
  });
});
