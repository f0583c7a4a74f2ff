// The Vapi part of the simulator: POST /call (assistantId, phoneNumberId, customer.number,
// metadata, assistantOverrides) and GET /call/{id} behind Authorization: Bearer <private key>, and
// the server messages Vapi sends to the server URL: status-update (ringing, in-progress, ended with
// its endedReason) and end-of-call-report, each with the x-vapi-secret header (the server secret of
// the organisation whose key created the call). Mounted by server.ts.

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

export const VAPI_ENDED_REASONS: Readonly<Record<PlatformOutcome, string>> = {
  completed: 'customer-ended-call',
  'no-answer': 'customer-did-not-answer',
  busy: 'customer-busy',
  failed: 'twilio-failed-to-connect-call',
  voicemail: 'voicemail',
};

function uuid(rng: () => number): string {
  const hex = seededDigest(rng, 'hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function vapiProtocol(): PlatformProtocol {
  const resource = (c: PlatformCall): Record<string, unknown> => ({
    id: c.id,
    orgId: 'sim-org',
    type: 'outboundPhoneCall',
    status: c.status,
    ...(c.status === 'ended' ? { endedReason: VAPI_ENDED_REASONS[c.outcome] } : {}),
    assistantId: c.request.assistantId,
    phoneNumberId: c.request.phoneNumberId,
    customer: c.request.customer,
    metadata: c.request.metadata ?? {},
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date().toISOString(),
    ...(c.endedAt ? { endedAt: new Date(c.endedAt).toISOString() } : {}),
  });
  return {
    name: 'vapi',
    createPath: '/call',
    fetchPrefix: '/call/',
    readCreate(b) {
      const customer = b.customer && typeof b.customer === 'object' ? (b.customer as Record<string, unknown>) : {};
      if (typeof b.assistantId !== 'string' && !b.assistant) {
        return { status: 400, message: 'assistantId or assistant is required' };
      }
      if (typeof b.phoneNumberId !== 'string') return { status: 400, message: 'phoneNumberId must be a string' };
      if (typeof customer.number !== 'string' || !PLATFORM_E164.test(customer.number)) {
        return { status: 400, message: 'customer.number must be a valid phone number in the E.164 format' };
      }
      return { to: customer.number, from: b.phoneNumberId };
    },
    newId: uuid,
    errorBody: (status, message) => ({
      message: [message],
      error: status === 429 ? 'Too Many Requests' : 'Bad Request',
      statusCode: status,
    }),
    resource,
    timeline(outcome, rng) {
      const { ring, talk } = ringAndTalk(rng);
      const ended = { status: 'ended', final: true, events: ['status-update', 'end-of-call-report'] };
      switch (outcome) {
        case 'completed':
        case 'voicemail':
          return [
            { afterMs: 0, status: 'queued', final: false, events: [] },
            { afterMs: 300, status: 'ringing', final: false, events: ['status-update'] },
            { afterMs: ring, status: 'in-progress', final: false, events: ['status-update'] },
            { afterMs: talk, ...ended },
          ];
        case 'no-answer':
          return [
            { afterMs: 0, status: 'queued', final: false, events: [] },
            { afterMs: 300, status: 'ringing', final: false, events: ['status-update'] },
            { afterMs: 30_000, ...ended },
          ];
        default:
          return [{ afterMs: 0, status: 'queued', final: false, events: [] }, { afterMs: ring, ...ended }];
      }
    },
    eventBody(type, c, now) {
      const message: Record<string, unknown> = { type, timestamp: now, call: resource(c) };
      if (type === 'status-update') message.status = c.status;
      if (c.status === 'ended') message.endedReason = VAPI_ENDED_REASONS[c.outcome];
      if (type === 'end-of-call-report' && c.durationMs !== null) message.durationSeconds = c.durationMs / 1000;
      return { message };
    },
    eventHeaders: (_raw, _now, serverSecret) => ({ 'x-vapi-secret': serverSecret }),
  };
}

export interface VapiSimOptions extends PlatformOptions {
  /** What x-vapi-secret carries on every server message. */
  serverSecret: string;
}

export function startVapiSimulator(opts: VapiSimOptions) {
  return startPlatform(vapiProtocol(), { ...opts, eventKey: opts.serverSecret });
}
