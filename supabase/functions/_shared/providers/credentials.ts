// Each provider account's own credentials, from the functions' environment (no secret is ever
// stored in the database). PROVIDER_ACCOUNT_CREDENTIALS is one optional JSON object keyed by
// provider account id (provider_accounts.id); each entry names its kind, which must be the
// account's kind, and holds that kind's credentials:
//
//   {"sales-vapi":    {"provider": "vapi", "apiKey": "…", "serverSecret": "…"},
//    "support-retell": {"provider": "retell", "apiKey": "…", "webhookKey": "…"},
//    "sw-eu":         {"provider": "signalwire", "projectId": "…", "apiToken": "…",
//                      "spaceUrl": "https://example.signalwire.com", "signingKey": "…"}}
//
//   vapi        apiKey (required), serverSecret (the secret its server messages carry; default
//               VAPI_SERVER_SECRET), baseUrl (default VAPI_API_BASE_URL)
//   retell      apiKey (required), webhookKey (the key that signs its events; default the entry's
//               apiKey), baseUrl (default RETELL_API_BASE_URL)
//   signalwire  projectId, apiToken, spaceUrl (all required), signingKey (default SIGNALWIRE_SIGNING_KEY)
//
// An account without an entry uses its kind's variables (VAPI_API_KEY, RETELL_API_KEY,
// SIGNALWIRE_*), as before. Twilio accounts are not listed here: a Twilio account is a subaccount
// of the main account (provider_accounts.account_sid), created with the main credentials, its
// callbacks signed with its own token from TWILIO_SUBACCOUNT_AUTH_TOKENS.

import { z } from 'zod';

/** The variable's name, used in error messages and docs. */
export const CREDENTIALS_VARIABLE = 'PROVIDER_ACCOUNT_CREDENTIALS';

/** The fields of an entry that are secrets (the logger redacts them; nothing else in an entry is). */
export const SECRET_FIELDS = ['apiKey', 'serverSecret', 'webhookKey', 'apiToken', 'signingKey'] as const;

const ACCOUNT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const secret = z.string().trim().min(1, 'must not be blank').max(1024, 'is longer than 1024 characters');
const baseUrl = z.string().url('must be a URL').transform((s) => s.replace(/\/+$/, ''));

const VapiCredentials = z.object({
  provider: z.literal('vapi'),
  apiKey: secret,
  serverSecret: secret.optional(),
  baseUrl: baseUrl.optional(),
}).strict();

const RetellCredentials = z.object({
  provider: z.literal('retell'),
  apiKey: secret,
  webhookKey: secret.optional(),
  baseUrl: baseUrl.optional(),
}).strict();

const SignalWireCredentials = z.object({
  provider: z.literal('signalwire'),
  projectId: secret,
  apiToken: secret,
  spaceUrl: baseUrl,
  signingKey: secret.optional(),
}).strict();

export const AccountCredentials = z.discriminatedUnion('provider', [VapiCredentials, RetellCredentials, SignalWireCredentials]);
export type AccountCredentials = z.infer<typeof AccountCredentials>;
export type VapiCredentials = z.infer<typeof VapiCredentials>;
export type RetellCredentials = z.infer<typeof RetellCredentials>;
export type SignalWireCredentials = z.infer<typeof SignalWireCredentials>;

/** Account id -> its credentials. */
export type CredentialsByAccount = Readonly<Record<string, AccountCredentials>>;

/** The problem with one entry, naming the account and the field; undefined when it is valid. */
function entryProblem(account: string, value: unknown): string | undefined {
  if (!ACCOUNT_ID.test(account)) return `account ${JSON.stringify(account)}: not a provider account id (a lower-case slug)`;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return `account "${account}": must be a JSON object`;
  const provider = (value as Record<string, unknown>).provider;
  if (provider === 'twilio') {
    return `account "${account}": Twilio accounts take no entry here (their subaccount tokens go in TWILIO_SUBACCOUNT_AUTH_TOKENS)`;
  }
  const checked = AccountCredentials.safeParse(value);
  if (checked.success) return undefined;
  const issue = checked.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    return `account "${account}": unknown field(s) ${issue.keys.join(', ')} for a ${String(provider)} account`;
  }
  const field = issue.path.length > 0 ? issue.path.join('.') : 'provider';
  const message = issue.code === 'invalid_union' || field === 'provider'
    ? 'must be "vapi", "retell" or "signalwire"'
    : issue.message;
  return `account "${account}": ${field}: ${message}`;
}

/** PROVIDER_ACCOUNT_CREDENTIALS: a JSON object of provider account id -> credentials (default none). */
export const accountCredentials = z
  .string()
  .optional()
  .transform((text, ctx): CredentialsByAccount => {
    if (text === undefined || text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of provider account id -> credentials' });
      return z.NEVER;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of provider account id -> credentials' });
      return z.NEVER;
    }
    const out: Record<string, AccountCredentials> = {};
    for (const [account, value] of Object.entries(parsed)) {
      const problem = entryProblem(account, value);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      out[account] = AccountCredentials.parse(value);
    }
    return out;
  });

/** The secret strings of the entries (for the logger's redaction): only the secret fields. */
export function credentialSecrets(creds: CredentialsByAccount): string[] {
  const out: string[] = [];
  for (const entry of Object.values(creds)) {
    for (const field of SECRET_FIELDS) {
      const v = (entry as Record<string, unknown>)[field];
      if (typeof v === 'string') out.push(v);
    }
  }
  return out;
}

/**
 * The keys that authenticate one platform's inbound events: the kind-level key (for every account
 * of the kind without a key of its own) and each account's own key.
 */
export interface EventKeys {
  /** The kind-level key (VAPI_SERVER_SECRET, RETELL_WEBHOOK_KEY, SIGNALWIRE_SIGNING_KEY), if set. */
  kindKey?: string;
  /** Account id -> its own key. */
  accounts: Readonly<Record<string, string>>;
}

/** Whether any key is configured (none: the platform's path answers 404). */
export const hasEventKeys = (k: EventKeys): boolean => k.kindKey !== undefined || Object.keys(k.accounts).length > 0;

/** The event keys of each platform from the kind-level keys and the account entries. */
export function eventKeysOf(
  creds: CredentialsByAccount,
  kindKeys: { vapi?: string; retell?: string; signalwire?: string },
): { vapi: EventKeys; retell: EventKeys; signalwire: EventKeys } {
  const vapi: Record<string, string> = {};
  const retell: Record<string, string> = {};
  const signalwire: Record<string, string> = {};
  for (const [account, c] of Object.entries(creds)) {
    if (c.provider === 'vapi' && c.serverSecret) vapi[account] = c.serverSecret;
    if (c.provider === 'retell') retell[account] = c.webhookKey ?? c.apiKey;
    if (c.provider === 'signalwire' && c.signingKey) signalwire[account] = c.signingKey;
  }
  const keys = (kindKey: string | undefined, accounts: Record<string, string>): EventKeys => ({
    ...(kindKey ? { kindKey } : {}),
    accounts,
  });
  return {
    vapi: keys(kindKeys.vapi, vapi),
    retell: keys(kindKeys.retell, retell),
    signalwire: keys(kindKeys.signalwire, signalwire),
  };
}

/** What the keys that verified an event prove: the accounts it may move the calls of. */
export interface VerifiedFor {
  kindKey: boolean;
  accounts: ReadonlySet<string>;
}

/**
 * Tries every configured key with `verify`; which of them verified. All keys are tried (no early
 * exit), so the time taken does not say which one matched.
 */
export async function verifyWithKeys(keys: EventKeys, verify: (key: string) => Promise<boolean>): Promise<VerifiedFor> {
  const accounts = new Set<string>();
  const [kindKey, ...own] = await Promise.all([
    keys.kindKey === undefined ? Promise.resolve(false) : verify(keys.kindKey),
    ...Object.values(keys.accounts).map((k) => verify(k)),
  ]);
  Object.keys(keys.accounts).forEach((account, i) => {
    if (own[i]) accounts.add(account);
  });
  return { kindKey: kindKey === true, accounts };
}

/** True when an event verified so may move a call of `account`: its own key, or the kind's key for an account without one. */
export function mayMoveCallOf(keys: EventKeys, verified: VerifiedFor, account: string): boolean {
  if (Object.hasOwn(keys.accounts, account)) return verified.accounts.has(account);
  return verified.kindKey;
}

/** True when nothing verified. */
export const verifiedNothing = (v: VerifiedFor): boolean => !v.kindKey && v.accounts.size === 0;
