// The platforms besides Twilio, as the functions' environment configures them. Each is optional: a
// kind without its key has no adapter (its campaigns pause with the reason, providers/registry.ts),
// and its events are refused by call-status.
//
//   VAPI_API_KEY          Vapi private API key (POST /call, GET /call/{id})
//   VAPI_API_BASE_URL     default https://api.vapi.ai (the simulator's URL locally)
//   VAPI_SERVER_SECRET    the secret Vapi sends with server messages (x-vapi-secret or Bearer)
//   RETELL_API_KEY        Retell API key (create-phone-call, get-call)
//   RETELL_API_BASE_URL   default https://api.retellai.com
//   RETELL_WEBHOOK_KEY    the API key with the webhook badge, which signs the events (default
//                         RETELL_API_KEY)
//   SIGNALWIRE_PROJECT_ID, SIGNALWIRE_API_TOKEN, SIGNALWIRE_SPACE_URL
//                         SignalWire's LaML API (Twilio's Calls API at
//                         https://<space>.signalwire.com/api/laml/2010-04-01/...): the project id
//                         and token stand for Twilio's account SID and auth token
//   PROVIDER_ACCOUNT_CREDENTIALS
//                         each account's own credentials, by provider account id (credentials.ts);
//                         the variables above are the default for accounts without an entry

import { z } from 'zod';
import { insecureUrlProblem, optionalString, url } from '../config.ts';
import type { TelephonyProvider } from '../provider.ts';
import { TwilioProvider } from '../twilio.ts';
import { accountCredentials, CREDENTIALS_VARIABLE, type CredentialsByAccount } from './credentials.ts';
import type { ProviderSet } from './registry.ts';
import { RetellProvider } from './retell.ts';
import { signalWireBaseUrl, SignalWireProvider } from './signalwire.ts';
import { VapiProvider } from './vapi.ts';

export const ProvidersEnv = z.object({
  VAPI_API_KEY: optionalString,
  VAPI_API_BASE_URL: url.default('https://api.vapi.ai'),
  VAPI_SERVER_SECRET: optionalString,
  RETELL_API_KEY: optionalString,
  RETELL_API_BASE_URL: url.default('https://api.retellai.com'),
  RETELL_WEBHOOK_KEY: optionalString,
  SIGNALWIRE_PROJECT_ID: optionalString,
  SIGNALWIRE_API_TOKEN: optionalString,
  SIGNALWIRE_SPACE_URL: optionalString.pipe(url.optional()),
  PROVIDER_ACCOUNT_CREDENTIALS: accountCredentials,
});
export type ProvidersEnv = z.infer<typeof ProvidersEnv>;

/** Refinement: the platforms' API URLs carry their keys, so https:// only unless ALLOW_INSECURE_URLS. */
export const platformsNeedHttps = (env: ProvidersEnv & { ALLOW_INSECURE_URLS: boolean }, ctx: z.RefinementCtx) => {
  const checks: Array<[string, string | undefined]> = [
    ['VAPI_API_BASE_URL', env.VAPI_API_KEY ? env.VAPI_API_BASE_URL : undefined],
    ['RETELL_API_BASE_URL', env.RETELL_API_KEY ? env.RETELL_API_BASE_URL : undefined],
    ['SIGNALWIRE_SPACE_URL', env.SIGNALWIRE_SPACE_URL],
  ];
  for (const [variable, value] of checks) {
    const problem = value === undefined ? undefined : insecureUrlProblem(value, env.ALLOW_INSECURE_URLS);
    if (problem) ctx.addIssue({ code: 'custom', path: [variable], message: problem });
  }
  // Each account's own API URL: the entry's, else its kind's default (which carries this key too).
  for (const [account, c] of Object.entries(env.PROVIDER_ACCOUNT_CREDENTIALS ?? {})) {
    const [field, value] = c.provider === 'vapi'
      ? ['baseUrl', c.baseUrl ?? env.VAPI_API_BASE_URL]
      : c.provider === 'retell'
      ? ['baseUrl', c.baseUrl ?? env.RETELL_API_BASE_URL]
      : ['spaceUrl', c.spaceUrl];
    const problem = insecureUrlProblem(value, env.ALLOW_INSECURE_URLS);
    if (problem) {
      ctx.addIssue({ code: 'custom', path: [CREDENTIALS_VARIABLE], message: `account "${account}": ${field}: ${problem}` });
    }
  }
};

/** The adapters of the configured kinds besides Twilio. */
export function providersFromEnv(env: ProvidersEnv, opts: { allowInsecureUrls: boolean }): ProviderSet {
  const out: Record<string, TelephonyProvider> = {};
  if (env.VAPI_API_KEY) out.vapi = new VapiProvider({ apiKey: env.VAPI_API_KEY, baseUrl: env.VAPI_API_BASE_URL });
  if (env.RETELL_API_KEY) out.retell = new RetellProvider({ apiKey: env.RETELL_API_KEY, baseUrl: env.RETELL_API_BASE_URL });
  if (env.SIGNALWIRE_PROJECT_ID && env.SIGNALWIRE_API_TOKEN && env.SIGNALWIRE_SPACE_URL) {
    out.signalwire = signalWire(env.SIGNALWIRE_PROJECT_ID, env.SIGNALWIRE_API_TOKEN, env.SIGNALWIRE_SPACE_URL, opts);
  }
  return out;
}

function signalWire(projectId: string, apiToken: string, spaceUrl: string, opts: { allowInsecureUrls: boolean }) {
  return new SignalWireProvider(
    new TwilioProvider({
      accountSid: projectId,
      authToken: apiToken,
      baseUrl: signalWireBaseUrl(spaceUrl),
      allowInsecureUrls: opts.allowInsecureUrls,
    }),
  );
}

/**
 * The adapters of the accounts that have their own credentials (PROVIDER_ACCOUNT_CREDENTIALS), by
 * provider account id; each adapter's name is its entry's kind (providerFor checks it is the
 * call's). An entry's missing API URL is its kind's default.
 */
export function accountProvidersFromEnv(
  env: Pick<ProvidersEnv, 'VAPI_API_BASE_URL' | 'RETELL_API_BASE_URL'> & { PROVIDER_ACCOUNT_CREDENTIALS?: CredentialsByAccount },
  opts: { allowInsecureUrls: boolean },
): ProviderSet {
  const out: Record<string, TelephonyProvider> = {};
  for (const [account, c] of Object.entries(env.PROVIDER_ACCOUNT_CREDENTIALS ?? {})) {
    if (c.provider === 'vapi') out[account] = new VapiProvider({ apiKey: c.apiKey, baseUrl: c.baseUrl ?? env.VAPI_API_BASE_URL });
    else if (c.provider === 'retell') {
      out[account] = new RetellProvider({ apiKey: c.apiKey, baseUrl: c.baseUrl ?? env.RETELL_API_BASE_URL });
    } else out[account] = signalWire(c.projectId, c.apiToken, c.spaceUrl, opts);
  }
  return out;
}
