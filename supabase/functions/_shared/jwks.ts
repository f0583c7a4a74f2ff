// The public keys a Supabase project signs its Auth sessions with (asymmetric JWT signing keys:
// ES256 or RS256), as its JWKS publishes them at <SUPABASE_URL>/auth/v1/.well-known/jwks.json.
//
// Fetching, caching and key selection are jose's createRemoteJWKSet: the set is fetched on first use
// and kept for `ttlMs`; a kid it does not hold fetches it again, at most once per `minRefetchMs`
// after the last good fetch (concurrent lookups share one fetch); a fetch that succeeds replaces the
// set (a key removed from the JWKS is no longer accepted). A key is used only for an algorithm its
// kty / crv (and its own alg, use, key_ops) allow; jose refuses RSA keys under 2048 bits.
//
// What this file adds around it, through jose's customFetch hook: each fetch is time-boxed
// (`timeoutMs`), its body capped (`maxBytes`), a failed fetch is reported (`onError`) and, for
// `minRefetchMs` after it, not tried again (a JWKS outage does not turn every presented session into
// a request). When no set younger than `ttlMs` can be had, asymmetric sessions are refused (401).
//
// Supabase also hands Edge Functions the same JWKS in the SUPABASE_JWKS variable: when the URL is the
// project's own (derived from SUPABASE_URL), that set seeds jose's cache (`initial`), as if fetched
// `minRefetchMs` before start-up: no request at a cold start; an unknown kid or the TTL's end fetches
// the URL as above.

import { createRemoteJWKSet, customFetch, type FetchImplementation, jwksCache, type RemoteJWKSet } from 'jose';

/** The project's JWKS as jose resolves keys from it (the key argument of jwtVerify). */
export type SessionKeys = RemoteJWKSet;

export interface JwksOptions {
  /** The JWKS URL (SUPABASE_JWKS_URL, or <SUPABASE_URL>/auth/v1/.well-known/jwks.json). */
  url: string;
  /** How long a fetched key set is used before it is fetched again (default 10 minutes). */
  ttlMs?: number;
  /** At most one fetch per this interval, for unknown kids and after failures (default 30 s). */
  minRefetchMs?: number;
  /** Time box of one fetch (default 3 s). */
  timeoutMs?: number;
  /** Largest JWKS body read (default 64 KiB). */
  maxBytes?: number;
  /** A JWKS document to start with (SUPABASE_JWKS), used as if fetched when the source is made. */
  initial?: string | undefined;
  /** Reports a failed fetch (the message names the URL and the reason, never a token). */
  onError?: (message: string) => void;
  fetch?: typeof fetch;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The body of a response, refused past maxBytes (declared or read). */
async function readLimited(res: Response, maxBytes: number): Promise<string> {
  const tooLarge = () => new Error(`the JWKS is larger than ${maxBytes} bytes`);
  if (Number(res.headers.get('content-length') ?? '0') > maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  for (let r = await reader?.read(); r && !r.done; r = await reader!.read()) {
    size += r.value.byteLength;
    if (size > maxBytes) {
      await reader!.cancel();
      throw tooLarge();
    }
    chunks.push(r.value);
  }
  const all = new Uint8Array(size);
  chunks.reduce((at, c) => (all.set(c, at), at + c.byteLength), 0);
  return new TextDecoder().decode(all);
}

/** A JWKS document parsed, or an error saying why it is not one. */
function parseJwks(text: string): { keys: Record<string, unknown>[] } {
  const doc = JSON.parse(text) as { keys?: unknown } | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.keys)) throw new Error('no "keys" array');
  return { keys: doc.keys as Record<string, unknown>[] };
}

/** The project's JWKS, fetched and cached by jose within the bounds above. */
export function remoteJwks(opts: JwksOptions): SessionKeys {
  const ttlMs = opts.ttlMs ?? 600_000;
  const minRefetchMs = opts.minRefetchMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 65_536;
  const onError = opts.onError ?? (() => {});
  const fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  let failedAt = Number.NEGATIVE_INFINITY;

  const boundedFetch: FetchImplementation = async (url, init) => {
    if (Date.now() - failedAt < minRefetchMs) throw new Error('the JWKS fetch failed moments ago; not tried again yet');
    try {
      const res = await fetchFn(url, init);
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const body = JSON.stringify(parseJwks(await readLimited(res, maxBytes)));
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      failedAt = Date.now();
      onError(`JWKS ${url}: ${messageOf(err)}`);
      throw err;
    }
  };

  let seed: { jwks: { keys: Record<string, unknown>[] }; uat: number } | undefined;
  if (opts.initial) {
    try {
      if (opts.initial.length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
      // Dated minRefetchMs back: jose's cooldown after a fetch must not hold off an unknown kid at
      // start-up (the seed is then fresh for ttlMs - minRefetchMs; with ttlMs <= minRefetchMs, unused).
      seed = { jwks: parseJwks(opts.initial), uat: Date.now() - minRefetchMs };
    } catch (err) {
      onError(`SUPABASE_JWKS (the JWKS given to the function): ${messageOf(err)}`);
    }
  }

  return createRemoteJWKSet(new URL(opts.url), {
    cacheMaxAge: ttlMs,
    cooldownDuration: minRefetchMs,
    timeoutDuration: opts.timeoutMs ?? 3_000,
    [customFetch]: boundedFetch,
    ...(seed ? { [jwksCache]: seed as never } : {}),
  });
}

/**
 * The JWKS URL the configuration names: SUPABASE_JWKS_URL (or JWKS_URL, a name a hosted project can
 * set), else derived from SUPABASE_URL (which Supabase sets for Edge Functions), else none; 'off': none.
 */
export function jwksUrlOf(
  env: { SUPABASE_JWKS_URL?: string | undefined; JWKS_URL?: string | undefined; SUPABASE_URL?: string | undefined },
): string | null {
  const named = env.SUPABASE_JWKS_URL ?? env.JWKS_URL;
  if (named) return named === 'off' ? null : named;
  if (env.SUPABASE_URL) return `${env.SUPABASE_URL.replace(/\/+$/, '')}/auth/v1/.well-known/jwks.json`;
  return null;
}

/**
 * The JWKS to seed the cache with: SUPABASE_JWKS (set by Supabase for Edge Functions) when the URL is
 * the project's own (no SUPABASE_JWKS_URL / JWKS_URL given), else none.
 */
export function jwksSeedOf(
  env: { SUPABASE_JWKS_URL?: string | undefined; JWKS_URL?: string | undefined; SUPABASE_JWKS?: string | undefined },
): string | undefined {
  return env.SUPABASE_JWKS_URL || env.JWKS_URL ? undefined : env.SUPABASE_JWKS;
}
