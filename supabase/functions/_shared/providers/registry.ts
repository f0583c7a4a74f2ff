// Which adapter a call goes to. Every call row carries its campaign's provider, which is its
// provider account's kind (campaigns_provider_matches_account), so the dispatcher and the lookup of
// calls in doubt pick the adapter per call, and one dispatch serves accounts of every kind at once.
// A kind whose credentials the function was not given has no adapter: its calls are refused as a
// campaign-level problem (the campaign pauses with the reason, no attempt is charged).
//
// An account with credentials of its own (PROVIDER_ACCOUNT_CREDENTIALS, credentials.ts) has its own
// adapter, picked by the call's provider account before the kind's; an account without them uses
// its kind's adapter. An account's entry for another kind than the account's is refused the same way
// as a missing adapter (its key is never used for calls of another platform).

import type { CreateCallOutcome, TelephonyProvider } from '../provider.ts';

/** The adapters a function holds, by kind (provider_accounts.provider). */
export type ProviderSet = Readonly<Record<string, TelephonyProvider>>;

export interface ProviderDeps {
  /** The default adapter (Twilio): also the one for its own kind. */
  provider: TelephonyProvider;
  /** The adapters of the other kinds that are configured (absent: only `provider`). */
  providers?: ProviderSet;
  /** The adapters of the accounts with their own credentials, by provider account id. */
  accountProviders?: ProviderSet;
}

/**
 * The adapter for a call of this kind under this provider account: the account's own, else the
 * kind's; undefined when none is configured (or the account's own is of another kind).
 */
export function providerFor(deps: ProviderDeps, kind: string, account?: string): TelephonyProvider | undefined {
  if (account !== undefined && deps.accountProviders && Object.hasOwn(deps.accountProviders, account)) {
    const own = deps.accountProviders[account]!;
    return own.name === kind ? own : undefined;
  }
  const p = deps.providers && Object.hasOwn(deps.providers, kind) ? deps.providers[kind] : undefined;
  return p ?? (deps.provider.name === kind ? deps.provider : undefined);
}

/** Every configured adapter, once each. */
export function allProviders(deps: ProviderDeps): TelephonyProvider[] {
  return [...new Set([deps.provider, ...Object.values(deps.providers ?? {}), ...Object.values(deps.accountProviders ?? {})])];
}

/** What a call of a kind without an adapter gets: nothing is sent, the campaign pauses. */
export function noAdapterOutcome(kind: string, account?: string, deps?: ProviderDeps): CreateCallOutcome {
  const own = account !== undefined && deps?.accountProviders && Object.hasOwn(deps.accountProviders, account)
    ? deps.accountProviders[account]
    : undefined;
  return {
    kind: 'permanent',
    reason: own
      ? `the credentials of provider account ${account} (PROVIDER_ACCOUNT_CREDENTIALS) are for ${own.name}, but the account is a ${kind} account (docs/PROVIDERS.md)`
      : `no ${kind} adapter is configured: set its credentials in the functions' environment (docs/PROVIDERS.md)`,
    invalidNumber: false,
    campaignLevel: true,
  };
}
