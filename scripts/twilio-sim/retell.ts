// The Retell part of the simulator: POST /v2/create-phone-call (from_number, to_number,
// override_agent_id, metadata, retell_llm_dynamic_variables) and GET /v2/get-call/{call_id} behind
// Authorization: Bearer <API key>, and the webhook events Retell sends: call_started (when the call
// connects), call_ended and call_analyzed, each signed in x-retell-signature ("v=<ms>,d=<hex
// HMAC-SHA256 of the body followed by the timestamp>", keyed with the webhook key of the organisation
// whose API key created the call, by default that API key), computed here with
// node:crypto, independently of the adapter's crypto.subtle code. Mounted by server.ts.

import { createHmac } from 'node:crypto';
import {
  PLATFORM_E164,
  type PlatformCall,
  type PlatformOptions,
  type PlatformOutcome,
  type PlatformProtocol,
  ringAndTalk,
  seededDigest,
  startPlatform,
} from './platform.ts';

export const RETELL_DISCONNECTION_REASONS: Readonly<Record<PlatformOutcome, string>> = {
  completed: 'user_hangup',
  'no-answer': 'dial_no_answer',
  busy: 'dial_busy',
  failed: 'dial_failed',
  voicemail: 'voicemail_reached',
};

export function signRetell(apiKey: string, rawBody: string, atMs: number): string {
  return `v=${atMs},d=${createHmac('sha256', apiKey).update(rawBody + String(atMs)).digest('hex')}`;
}

export function retellProtocol(): PlatformProtocol {
  const resource = (c: PlatformCall): Record<string, unknown> => {
    const over = c.status === 'ended' || c.status === 'not_connected';
    return {
      call_id: c.id,
      call_type: 'phone_call',
      agent_id: c.request.override_agent_id ?? 'agent_sim_default',
      call_status: c.status,
      direction: 'outbound',
      from_number: c.from,
      to_number: c.to,
      metadata: c.request.metadata ?? {},
      retell_llm_dynamic_variables: c.request.retell_llm_dynamic_variables ?? {},
      start_timestamp: c.createdAt,
      ...(over
        ? {
          end_timestamp: c.endedAt,
          duration_ms: c.durationMs ?? 0,
          disconnection_reason: RETELL_DISCONNECTION_REASONS[c.outcome],
        }
        : {}),
    };
  };
  return {
    name: 'retell',
    createPath: '/v2/create-phone-call',
    fetchPrefix: '/v2/get-call/',
    readCreate(b) {
      if (typeof b.from_number !== 'string' || !PLATFORM_E164.test(b.from_number)) {
        return { status: 400, message: 'from_number is not a valid number' };
      }
      if (typeof b.to_number !== 'string' || !PLATFORM_E164.test(b.to_number)) {
        return { status: 400, message: 'to_number is not a valid E.164 number' };
      }
      const vars = b.retell_llm_dynamic_variables;
      if (
        vars !== undefined &&
        (typeof vars !== 'object' || vars === null || Object.values(vars).some((v) => typeof v !== 'string'))
      ) {
        return { status: 400, message: 'retell_llm_dynamic_variables values must be strings' };
      }
      return { to: b.to_number, from: b.from_number };
    },
    newId: (rng) => seededDigest(rng, 'base64url').replace(/[-_]/g, 'x').slice(0, 32),
    errorBody: (_status, message) => ({ status: 'error', message }),
    resource,
    timeline(outcome, rng) {
      const { ring, talk } = ringAndTalk(rng);
      const first = { afterMs: 0, status: 'registered', final: false, events: [] as string[] };
      if (outcome === 'completed' || outcome === 'voicemail') {
        return [
          first,
          { afterMs: ring, status: 'ongoing', final: false, events: ['call_started'] },
          { afterMs: talk, status: 'ended', final: true, events: ['call_ended', 'call_analyzed'] },
        ];
      }
      return [first, {
        afterMs: outcome === 'no-answer' ? 30_000 : ring,
        status: 'not_connected',
        final: true,
        events: ['call_ended'],
      }];
    },
    eventBody: (type, c) => ({ event: type, call: resource(c) }),
    eventHeaders: (raw, now, webhookKey) => ({ 'x-retell-signature': signRetell(webhookKey, raw, now) }),
  };
}

export function startRetellSimulator(opts: PlatformOptions) {
  return startPlatform(retellProtocol(), opts);
}
