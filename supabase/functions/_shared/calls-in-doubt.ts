// Calls in doubt, settled at the provider. A call stays dialing or unknown when we never learnt what
// the provider did with it (a lost create-call answer, a lost final callback, a crashed function).
// Each tick, before it reserves, looks a few of them up at the provider (the adapter's lookupCall:
// Twilio's Calls API by SID, or the calls to the number since it was dialled) and settles each from
// the answer (settle_call_from_provider): a call the provider placed takes its real outcome, so a
// person who answered is not called again; a call the provider never placed fails at once and its
// contact is retried. A failed lookup concludes nothing: the call is asked about again later, and
// the reaper (stuck_call_timeout) still ends whatever stays in doubt.

import { coerceError } from './errors.ts';
import type { Logger } from './log.ts';
import { allProviders, type ProviderDeps, providerFor } from './providers/registry.ts';
import type { SqlPool } from './db.ts';
import { callsToCheckAtProvider, type CallToCheck, settleCallFromProvider } from './queries.ts';

/** Calls looked up per tick at most: a backlog drains over several ticks, each tick stays short. */
export const LOOKUPS_PER_TICK = 20;
/** Lookups in flight at once. */
export const LOOKUP_CONCURRENCY = 4;
/** The longest one lookup may take. */
export const LOOKUP_TIMEOUT_MS = 5000;

/** What the lookups of one tick did (written to the run's details). */
export interface InDoubtCounts {
  looked_up: number;
  /** Settled (or given their provider call id) from what the provider said. */
  found: number;
  /** The provider never placed them: failed, the contact retried. */
  not_placed: number;
  /** No record at the provider of a call whose provider id we hold: left for callbacks or the reaper. */
  kept: number;
  /** The lookup failed: asked again after provider_check_after. */
  failed_lookups: number;
}

export const noCallsInDoubt = (): InDoubtCounts => ({ looked_up: 0, found: 0, not_placed: 0, kept: 0, failed_lookups: 0 });

export interface InDoubtDeps extends ProviderDeps {
  pool: SqlPool;
  log: Logger;
}

/**
 * Looks up and settles the calls in doubt that are due (calls_to_check_at_provider). Database errors
 * reject; a lookup that fails is counted and reported through `onError`.
 */
export async function settleCallsInDoubt(
  deps: InDoubtDeps,
  now: () => number,
  onError: (callId: string, message: string) => void,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): Promise<InDoubtCounts> {
  const counts = noCallsInDoubt();
  // Each call is looked up at its own platform (calls.provider, its account's kind), with its
  // account's own credentials when it has them.
  if (!allProviders(deps).some((p) => p.lookupCall)) return counts;
  const calls = (await callsToCheckAtProvider(deps.pool, new Date(now()), LOOKUPS_PER_TICK))
    .filter((c) => providerFor(deps, c.provider, c.provider_account)?.lookupCall !== undefined);
  const one = async (c: CallToCheck & { provider_account: string }): Promise<void> => {
    const adapter = providerFor(deps, c.provider, c.provider_account)!;
    const lookup = adapter.lookupCall!.bind(adapter);
    counts.looked_up++;
    const outcome = await lookup({
      providerCallId: c.provider_call_id,
      to: c.to_phone,
      from: c.caller_id,
      dialedAt: c.dialed_at,
      accountSid: c.account_sid,
      timeoutMs,
    });
    if (outcome.kind === 'error') {
      counts.failed_lookups++;
      onError(c.call_id, outcome.reason);
      return;
    }
    const verdict = await settleCallFromProvider(
      deps.pool,
      adapter.name,
      c.call_id,
      outcome.kind === 'found' ? outcome : null,
      new Date(now()),
    );
    if (verdict === 'not_placed') counts.not_placed++;
    else if (verdict === 'kept') counts.kept++;
    else if (outcome.kind === 'found' && (verdict === 'applied' || verdict === 'ignored')) counts.found++;
    deps.log.info('call_in_doubt_settled', {
      call_id: c.call_id,
      was: c.status,
      provider_says: outcome.kind === 'found' ? outcome.status : 'no such call',
      verdict,
    });
  };
  const queue = [...calls];
  await Promise.all(
    Array.from({ length: Math.min(LOOKUP_CONCURRENCY, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        try {
          await one(c);
        } catch (err) {
          counts.failed_lookups++;
          onError(c.call_id, coerceError(err).message);
        }
      }
    }),
  );
  return counts;
}
