// Which adapter a call goes to. Every call row carries its campaign's provider, which is its
// provider account's kind (campaigns_provider_matches_account), so the dispatcher and the lookup of
// calls in doubt pick the adapter per call, and one dispatch serves accounts of every kind at once.
// A kind whose credentials the function was not given has no adapter: its calls are refused as a
// campaign-level problem (the campaign pauses with the reason, no attempt is charged).

import type { CreateCallOutcome, TelephonyProvider } from '../provider.ts';

/** The adapters a function holds, by kind (provider_accounts.provider). */
export type ProviderSet = Readonly<Record<string, TelephonyProvider>>;

export interface ProviderDeps {
  /** The default adapter (Twilio): also the one for its own kind. */
  provider: TelephonyProvider;
  /** The adapters of the other kinds that are configured (absent: only `provider`). */
  providers?: ProviderSet;
}

/** The adapter for calls of this kind, or undefined when none is configured. */
export function providerFor(deps: ProviderDeps, kind: string): TelephonyProvider | undefined {
  const p = deps.providers && Object.hasOwn(deps.providers, kind) ? deps.providers[kind] : undefined;
  return p ?? (deps.provider.name === kind ? deps.provider : undefined);
}

/** Every configured adapter, once each. */
export function allProviders(deps: ProviderDeps): TelephonyProvider[] {
  return [...new Set([deps.provider, ...Object.values(deps.providers ?? {})])];
}

/** What a call of a kind without an adapter gets: nothing is sent, the campaign pauses. */
export function noAdapterOutcome(kind: string): CreateCallOutcome {
  return {
    kind: 'permanent',
    reason: `no ${kind} adapter is configured: set its credentials in the functions' environment (docs/PROVIDERS.md)`,
    invalidNumber: false,
    campaignLevel: true,
  };
}
