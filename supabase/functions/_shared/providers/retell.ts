// The Retell adapter: create an outbound call with POST /v2/create-phone-call (a Retell agent speaks
// from one of the organisation's numbers), and read Retell's webhook events (call_started,
// call_ended, call_analyzed) into our status.
//
// Request: {from_number, to_number, override_agent_id?, metadata, retell_llm_dynamic_variables}.
// from_number is the campaign's caller id (a number bought in or connected to Retell: its agent
// answers unless provider_settings.agent_id overrides it); metadata carries our call id and contact
// id, which Retell returns in every event's call.metadata; the dynamic variables (strings only) give
// the agent's prompt {{call_id}}, {{contact_id}}, {{contact_name}} and {{opt_out_url}}. Auth:
// Authorization: Bearer <API key>.
//
// Events reach call-status/retell from the agent's (or the account's) webhook URL. Each carries
// x-retell-signature: "v=<unix ms>,d=<hex HMAC-SHA256 of the raw body followed by that timestamp,
// keyed with the API key that has the webhook badge>": RETELL_WEBHOOK_KEY here (default
// RETELL_API_KEY). A timestamp more than five minutes away from now is refused (a replay).
//
// Answers to create-call: json-api.ts (401/402/403/404 refuse the campaign; a 400 / 422 naming
// to_number marks the number invalid; one naming from_number or the agent refuses the campaign).
// Statuses and disconnection reasons: docs/PROVIDERS.md.

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

export const DEFAULT_RETELL_BASE_URL = 'https://api.retellai.com';
/** How far a signature's timestamp may be from our clock. */
export const RETELL_SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000;

/** baseUrl: default https://api.retellai.com; the simulator's URL locally. */
export type RetellProviderOptions = JsonApiProviderOptions;

/** What a disconnection_reason says about the call, and who answered when it was a machine. */
export function mapRetellDisconnection(reason: string | undefined): MappedStatus {
  const r = (reason ?? '').toLowerCase();
  if (r === 'dial_busy') return { status: 'busy' };
  if (r === 'dial_no_answer') return { status: 'no_answer' };
  if (r === 'user_declined') return { status: 'busy' };
  if (r === 'voicemail_reached') return { status: 'completed', answeredBy: 'machine_start' };
  if (
    r === 'user_hangup' || r === 'agent_hangup' || r === 'call_transfer' || r === 'inactivity' ||
    r === 'max_duration_reached' || r === 'transfer_bridged' || r === 'transfer_cancelled'
  ) {
    return { status: 'completed' };
  }
  // dial_failed, invalid_destination, telephony_provider_*, sip_routing_error, marked_as_spam,
  // concurrency_limit_reached, no_valid_payment, scam_detected, error_*, and unknown values.
  return { status: 'failed' };
}

/** Retell call_status (and disconnection_reason) -> ours; null for a status Retell does not document. */
export function mapRetellCallStatus(status: string, reason?: string): MappedStatus | null {
  switch (status) {
    case 'registered':
      return { status: 'dialing' };
    case 'ongoing':
      return { status: 'in_progress' };
    case 'ended':
    case 'not_connected':
      return mapRetellDisconnection(reason ?? (status === 'not_connected' ? 'dial_failed' : undefined));
    case 'error':
      return { status: 'failed' };
    default:
      return null;
  }
}

/**
 * A webhook event as our status update; null for an event that says nothing about the call's
 * status (transcript and transfer events). Throws for a call event we cannot read.
 */
export function parseRetellEvent(body: unknown): StatusUpdate | null {
  const b = asRecord(body);
  const event = b.event;
  if (event !== 'call_started' && event !== 'call_ended' && event !== 'call_analyzed') return null;
  const call = asRecord(b.call);
  const providerCallId = typeof call.call_id === 'string' ? call.call_id : '';
  if (!providerCallId) throw new Error('call.call_id is missing');
  const reason = typeof call.disconnection_reason === 'string' ? call.disconnection_reason : undefined;
  // call_started: the call connected. call_ended / call_analyzed: final, even when call_status lags.
  const mapped = event === 'call_started'
    ? { status: 'in_progress' as CallStatus }
    : typeof call.call_status === 'string' && call.call_status !== 'ongoing' && call.call_status !== 'registered'
    ? mapRetellCallStatus(call.call_status, reason)
    : mapRetellDisconnection(reason);
  if (!mapped) throw new Error(`unknown Retell call_status ${JSON.stringify(call.call_status)}`);
  const update: StatusUpdate = { callId: ourCallId(call.metadata), providerCallId, status: mapped.status };
  if (mapped.answeredBy) update.answeredBy = mapped.answeredBy;
  if (reason && mapped.status !== 'completed' && mapped.status !== 'in_progress') update.errorCode = reason.slice(0, 100);
  if (typeof call.duration_ms === 'number' && Number.isFinite(call.duration_ms) && call.duration_ms >= 0) {
    update.durationSeconds = Math.round(call.duration_ms / 1000);
  }
  return update;
}

const encoder = new TextEncoder();

async function hmacHex(key: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', k, encoder.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The x-retell-signature value for a raw body at a time (the simulator signs with it; tests too). */
export async function signRetellBody(apiKey: string, rawBody: string, atMs: number): Promise<string> {
  return `v=${atMs},d=${await hmacHex(apiKey, rawBody + String(atMs))}`;
}

/** True when the signature is Retell's for this raw body, and its timestamp is within the tolerance. */
export async function verifyRetellSignature(
  apiKey: string,
  rawBody: string,
  header: string,
  nowMs: number = Date.now(),
): Promise<boolean> {
  const m = /^v=(\d{1,16}),d=([0-9a-f]{64})$/.exec(header.trim());
  if (!m || !apiKey) return false;
  const at = Number(m[1]);
  if (Math.abs(nowMs - at) > RETELL_SIGNATURE_TOLERANCE_MS) return false;
  return await timingSafeEqualStrings(await hmacHex(apiKey, rawBody + m[1]), m[2]!);
}

/** The create-phone-call body for one of our calls, or why none can be sent. */
export function buildRetellCreateCall(req: CreateCallFields): BuiltCreateCall {
  const to = e164OrNull(req.to);
  if (!to) {
    return { ok: false, reason: `to_number ${JSON.stringify(req.to)} is not an E.164 number`, invalidNumber: true };
  }
  const from = e164OrNull(req.from);
  if (!from) {
    return { ok: false, reason: 'malformed campaign: from_number (caller_id) is not an E.164 number', invalidNumber: false };
  }
  const s = req.settings ?? {};
  if (s.agent_id !== undefined && s.agent_id !== null && (typeof s.agent_id !== 'string' || !s.agent_id)) {
    return { ok: false, reason: 'malformed campaign: provider_settings.agent_id must be a string', invalidNumber: false };
  }
  const { metadata, variables } = callContext(req);
  return {
    ok: true,
    body: {
      from_number: from,
      to_number: to,
      ...(typeof s.agent_id === 'string' ? { override_agent_id: s.agent_id } : {}),
      metadata,
      // Retell's dynamic variables are strings, all of them.
      retell_llm_dynamic_variables: variables,
    },
  };
}

/** What the Retell adapter passes to JsonApiProvider: POST /v2/create-phone-call, GET /v2/get-call/{call_id}. */
const RETELL: JsonApiPlatform = {
  name: 'retell',
  defaultBaseUrl: DEFAULT_RETELL_BASE_URL,
  rules: {
    label: 'Retell',
    callId: (b) => (typeof b.call_id === 'string' ? b.call_id : null),
    invalidNumber: /to_number|invalid destination|invalid_destination/i,
    campaignLevel: /from_number|agent/i,
  },
  createPath: '/v2/create-phone-call',
  lookupPath: (id) => `/v2/get-call/${id}`,
  buildCreateCall: buildRetellCreateCall,
  readCall(call) {
    const reason = typeof call.disconnection_reason === 'string' ? call.disconnection_reason : undefined;
    const mapped = typeof call.call_status === 'string' ? mapRetellCallStatus(call.call_status, reason) : null;
    if (typeof call.call_id !== 'string' || !mapped) return null;
    return {
      providerCallId: call.call_id,
      ...mapped,
      ...(typeof call.duration_ms === 'number' ? { durationSeconds: Math.round(call.duration_ms / 1000) } : {}),
    };
  },
};

export class RetellProvider extends JsonApiProvider {
  constructor(opts: RetellProviderOptions) {
    super(RETELL, opts);
  }
}
