// The Vapi adapter: create an outbound call with POST /call (an assistant speaks through one of the
// organisation's Vapi phone numbers), and read the server messages Vapi sends to the server URL
// (status-update, end-of-call-report) into our status.
//
// Request: {assistantId, phoneNumberId, customer: {number, name?}, metadata, assistantOverrides:
// {variableValues}}. The assistant and the number come from the campaign's provider_settings
// (assistant_id, phone_number_id); metadata carries our call id and contact id, which Vapi echoes
// in every server message as message.call.metadata; variableValues gives the assistant's prompt
// {{call_id}}, {{contact_id}}, {{contact_name}} and {{opt_out_url}}. Auth: Authorization: Bearer <private key>.
//
// Server messages reach call-status/vapi only from the URL set on the assistant, phone number or
// organisation (Vapi picks the first set); they are authenticated by the secret Vapi sends with
// them: a credential of type X-Vapi-Secret (header x-vapi-secret) or Bearer Token (Authorization:
// Bearer), both VAPI_SERVER_SECRET here.
//
// Answers to create-call: json-api.ts (401/402/403/404 refuse the campaign; a 400 naming
// customer.number marks the number invalid; one naming the assistant or phone number refuses the
// campaign). Statuses and ended reasons: docs/PROVIDERS.md.

import type { CallStatus, StatusUpdate } from '../provider.ts';
import { timingSafeEqualStrings } from '../secrets.ts';
import {
  asRecord,
  type BuiltCreateCall,
  callContext,
  type CreateCallFields,
  e164OrNull,
  type JsonApiPlatform,
  JsonApiProvider,
  type JsonApiProviderOptions,
  type MappedStatus,
  ourCallId,
} from './json-api.ts';

export const DEFAULT_VAPI_BASE_URL = 'https://api.vapi.ai';

/** baseUrl: default https://api.vapi.ai; the simulator's URL locally. */
export type VapiProviderOptions = JsonApiProviderOptions;

/** Vapi call.status -> ours (ended is decided by the ended reason). */
const STATUS_MAP: Readonly<Record<string, CallStatus>> = {
  scheduled: 'dialing',
  queued: 'dialing',
  ringing: 'ringing',
  'in-progress': 'in_progress',
  forwarding: 'in_progress',
};

/** What an ended call's endedReason says, and who answered when it was a machine. */
export function mapVapiEndedReason(reason: string | undefined): MappedStatus {
  const r = (reason ?? '').toLowerCase();
  if (r === 'customer-busy') return { status: 'busy' };
  if (r === 'customer-did-not-answer') return { status: 'no_answer' };
  // Voicemail detection ended the call: a machine answered (the campaign's machine_answer_policy decides).
  if (r === 'voicemail') return { status: 'completed', answeredBy: 'machine_start' };
  if (r === 'manually-canceled') return { status: 'canceled' };
  if (
    r === 'customer-ended-call' || r === 'assistant-ended-call' || r === 'assistant-said-end-call-phrase' ||
    r === 'assistant-forwarded-call' || r === 'exceeded-max-duration' || r === 'silence-timed-out' ||
    r === 'assistant-ended-call-after-message-spoken' || r === 'assistant-ended-call-with-hangup-task'
  ) {
    return { status: 'completed' };
  }
  // Every other reason (failed to connect, pipeline and provider errors, unknown values) ended the
  // call without a conversation we can count on.
  return { status: 'failed' };
}

/** Vapi call status (and ended reason) -> ours; null for a status Vapi does not document. */
export function mapVapiCallStatus(status: string, endedReason?: string): MappedStatus | null {
  if (status === 'ended') return mapVapiEndedReason(endedReason);
  const s = STATUS_MAP[status];
  return s ? { status: s } : null;
}

/**
 * A server message as our status update; null for a message type that says nothing about the
 * call's status (transcripts, tool calls, ...). Throws for a status message we cannot read.
 */
export function parseVapiServerMessage(body: unknown): StatusUpdate | null {
  const message = asRecord(asRecord(body).message);
  const type = message.type;
  if (type !== 'status-update' && type !== 'end-of-call-report') return null;
  const call = asRecord(message.call);
  const providerCallId = typeof call.id === 'string' ? call.id : '';
  if (!providerCallId) throw new Error('message.call.id is missing');
  const endedReason = typeof message.endedReason === 'string' ? message.endedReason : undefined;
  let mapped: MappedStatus | null;
  if (type === 'end-of-call-report') mapped = mapVapiEndedReason(endedReason);
  else {
    if (typeof message.status !== 'string') throw new Error('message.status is missing');
    mapped = mapVapiCallStatus(message.status, endedReason);
    if (!mapped) throw new Error(`unknown Vapi call status ${JSON.stringify(message.status)}`);
  }
  const update: StatusUpdate = { callId: ourCallId(call.metadata), providerCallId, status: mapped.status };
  if (mapped.answeredBy) update.answeredBy = mapped.answeredBy;
  if (endedReason && mapped.status !== 'completed') update.errorCode = endedReason.slice(0, 100);
  const seconds = typeof message.durationSeconds === 'number' ? message.durationSeconds : undefined;
  if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) update.durationSeconds = Math.round(seconds);
  return update;
}

/** True when the request carries the server URL secret (x-vapi-secret, or Authorization: Bearer). */
export async function verifyVapiServerSecret(headers: Headers, secret: string): Promise<boolean> {
  if (!secret) return false;
  const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(headers.get('authorization') ?? '')?.[1];
  const presented = headers.get('x-vapi-secret') ?? bearer ?? null;
  if (presented === null || presented.length > 1024) return false;
  return await timingSafeEqualStrings(presented, secret);
}

/** The POST /call body for one of our calls, or why none can be sent. */
export function buildVapiCreateCall(
  req: Pick<CreateCallFields, 'callId' | 'contactId' | 'contactName' | 'optOutUrl' | 'to' | 'settings'>,
): BuiltCreateCall {
  const to = e164OrNull(req.to);
  if (!to) {
    return { ok: false, reason: `customer.number ${JSON.stringify(req.to)} is not an E.164 number`, invalidNumber: true };
  }
  const s = req.settings ?? {};
  if (typeof s.assistant_id !== 'string' || !s.assistant_id) {
    return { ok: false, reason: 'malformed campaign: provider_settings.assistant_id is not set', invalidNumber: false };
  }
  if (typeof s.phone_number_id !== 'string' || !s.phone_number_id) {
    return { ok: false, reason: 'malformed campaign: provider_settings.phone_number_id is not set', invalidNumber: false };
  }
  const { name, metadata, variables } = callContext(req);
  return {
    ok: true,
    body: {
      assistantId: s.assistant_id,
      phoneNumberId: s.phone_number_id,
      // Vapi takes the customer's name as customer.name (at most 40 characters).
      customer: { number: to, ...(name ? { name: name.slice(0, 40) } : {}) },
      metadata,
      assistantOverrides: { variableValues: variables },
    },
  };
}

/** What the Vapi adapter passes to JsonApiProvider: POST /call, GET /call/{id}. */
const VAPI: JsonApiPlatform = {
  name: 'vapi',
  defaultBaseUrl: DEFAULT_VAPI_BASE_URL,
  rules: {
    label: 'Vapi',
    callId: (b) => (typeof b.id === 'string' ? b.id : null),
    invalidNumber: /customer\.number|customer number|phone number is invalid|not a valid phone/i,
    campaignLevel: /assistant|phoneNumber|phone_number_id|wallet|credits/i,
  },
  createPath: '/call',
  lookupPath: (id) => `/call/${id}`,
  buildCreateCall: buildVapiCreateCall,
  readCall(call) {
    const mapped = typeof call.status === 'string'
      ? mapVapiCallStatus(call.status, typeof call.endedReason === 'string' ? call.endedReason : undefined)
      : null;
    return typeof call.id === 'string' && mapped ? { providerCallId: call.id, ...mapped } : null;
  },
};

export class VapiProvider extends JsonApiProvider {
  constructor(opts: VapiProviderOptions) {
    super(VAPI, opts);
  }
}
