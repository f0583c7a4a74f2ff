// call-status's configuration: what its index.ts reads from the environment, validated once.

import { z } from 'zod';
import {
  AuthLimitEnv,
  DatabaseEnv,
  needsDatabase,
  needsPublicUrl,
  optionalString,
  OptOutEnv,
  PublicUrlEnv,
  requiredString,
  subaccountTokens,
} from '../_shared/config.ts';
import { accountCredentials } from '../_shared/providers/credentials.ts';

export const CallStatusConfig = z
  .object({
    /** The main account: its callbacks carry this AccountSid (and are signed with TWILIO_AUTH_TOKEN). */
    TWILIO_ACCOUNT_SID: requiredString,
    /** Signs the provider's callbacks (X-Twilio-Signature). */
    TWILIO_AUTH_TOKEN: requiredString,
    /**
     * Optional JSON object {"AC…": "auth token"}: the auth tokens of the subaccounts that
     * provider_accounts.account_sid names; a subaccount's callbacks are signed with its own token.
     */
    TWILIO_SUBACCOUNT_AUTH_TOKENS: subaccountTokens,
    /** Vapi's server URL secret (x-vapi-secret / Bearer); unset: /call-status/vapi answers 404. */
    VAPI_SERVER_SECRET: optionalString,
    /** The Retell API key that signs webhooks (x-retell-signature); unset: RETELL_API_KEY, else 404. */
    RETELL_WEBHOOK_KEY: optionalString,
    RETELL_API_KEY: optionalString,
    /** The SignalWire project's signing key (X-SignalWire-Signature); unset: /call-status/signalwire answers 404. */
    SIGNALWIRE_SIGNING_KEY: optionalString,
    /**
     * Optional JSON object of provider account id -> credentials (providers/credentials.ts): an
     * account's own server secret, webhook key or signing key verifies its events, and only its.
     */
    PROVIDER_ACCOUNT_CREDENTIALS: accountCredentials,
    ...AuthLimitEnv.shape,
    ...DatabaseEnv.shape,
    ...OptOutEnv.shape,
    ...PublicUrlEnv.shape,
  })
  .superRefine(needsDatabase)
  .superRefine(needsPublicUrl);
export type CallStatusConfig = z.infer<typeof CallStatusConfig>;
