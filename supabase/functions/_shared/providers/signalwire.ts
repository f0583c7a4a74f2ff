// The SignalWire adapter: SignalWire's LaML API is Twilio's Calls API (same form parameters, same
// call resource, same statuses and status callbacks) under https://<space>.signalwire.com/api/laml,
// with the project id and an API token where Twilio has the account SID and auth token. So this
// adapter is the Twilio adapter pointed there, under its own name (calls and breakers are the
// signalwire account's). Where the two differ: callbacks carry X-SignalWire-Signature, the same
// HMAC-SHA1 over the URL and the sorted POST parameters as Twilio's, keyed with the project's
// signing key (SIGNALWIRE_SIGNING_KEY) rather than the API token.

import type {
  CreateCallOutcome,
  CreateCallRequest,
  LookupCallOutcome,
  LookupCallRequest,
  TelephonyProvider,
} from '../provider.ts';
import type { TwilioProvider } from '../twilio.ts';

/** The LaML API base (TwilioProvider adds /2010-04-01/Accounts/{project}/Calls.json). */
export function signalWireBaseUrl(spaceUrl: string): string {
  return `${spaceUrl.replace(/\/+$/, '')}/api/laml`;
}

/**
 * The status callback of a SignalWire call: call-status's SignalWire path (…/call-status/signalwire?
 * call_id=…), where X-SignalWire-Signature is checked with the signing key and the status applied as
 * the signalwire call's; the dispatcher names call-status's Twilio path, whose check and provider
 * would refuse it.
 */
export function signalWireStatusCallbackUrl(statusCallbackUrl: string): string {
  let u: URL;
  try {
    u = new URL(statusCallbackUrl);
  } catch {
    return statusCallbackUrl; // the Twilio adapter refuses it, saying why
  }
  const path = u.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/signalwire')) u.pathname = `${path}/signalwire`;
  return u.toString();
}

export class SignalWireProvider implements TelephonyProvider {
  readonly name = 'signalwire';
  readonly #twilio: TwilioProvider;

  constructor(compatible: TwilioProvider) {
    this.#twilio = compatible;
  }

  createCall(req: CreateCallRequest): Promise<CreateCallOutcome> {
    return this.#twilio.createCall({ ...req, statusCallbackUrl: signalWireStatusCallbackUrl(req.statusCallbackUrl) });
  }

  lookupCall(req: LookupCallRequest): Promise<LookupCallOutcome> {
    return this.#twilio.lookupCall(req);
  }
}
