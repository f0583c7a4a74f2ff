// The public keys a Supabase project signs its Auth sessions with (asymmetric JWT signing keys:
// ES256 or RS256), as its JWKS publishes them at <SUPABASE_URL>/auth/v1/.well-known/jwks.json.
//
// Fetched on first use and cached: a key set is used for `ttlMs` after it was fetched, then fetched
// again; a kid the cached set does not hold (a key rotated in) fetches it again at once. Bounded:
// at most one fetch in flight (concurrent lookups share it), at most one fetch per
// `minRefetchMs` whatever the tokens presented (so unknown kids cannot make us hammer the
// endpoint), each fetch time-boxed (`timeoutMs`), its body capped (`maxBytes`) and at most
// `maxKeys` keys kept. When a fetch fails the set fetched before stays usable for `staleIfErrorMs`
// past its TTL (an Auth outage does not sign every operator out at once); a fetch that succeeds
// replaces the set (a key removed from the JWKS is no longer accepted).
//
// Supabase also hands Edge Functions the same JWKS in the SUPABASE_JWKS variable: when the URL is the
// project's own (derived from SUPABASE_URL), that set seeds the cache (`initial`), as if fetched at
// start-up: no request at a cold start; an unknown kid or the TTL's end fetches the URL as above.
//
// Keys are imported with WebCrypto: EC P-256 for ES256, RSA (2048 bits or more) for RS256; a key
// whose own alg / use / key_ops do not allow verifying that algorithm is skipped, and symmetric
// ('oct') keys are never used.

export type AsymmetricAlg = 'ES256' | 'RS256';

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
  /** Keys kept from one JWKS, in its order (default 20). */
  maxKeys?: number;
  /** How long past its TTL a key set stays usable while fetching it again fails (default 1 hour). */
  staleIfErrorMs?: number;
  /** A JWKS document to start with (SUPABASE_JWKS), used as if fetched when the source is made. */
  initial?: string | undefined;
  /** Reports a failed fetch (the message names the URL and the reason, never a token). */
  onError?: (message: string) => void;
  fetch?: typeof fetch;
  now?: () => number;
}

interface CachedKey {
  alg: AsymmetricAlg;
  key: CryptoKey;
}

const ALGORITHMS: Record<AsymmetricAlg, { import: EcKeyImportParams | RsaHashedImportParams }> = {
  ES256: { import: { name: 'ECDSA', namedCurve: 'P-256' } },
  RS256: { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } },
};

/** The verify parameters of each algorithm. */
export const VERIFY_PARAMS: Record<AsymmetricAlg, AlgorithmIdentifier | EcdsaParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
};

export function isAsymmetricAlg(alg: unknown): alg is AsymmetricAlg {
  return alg === 'ES256' || alg === 'RS256';
}

type Jwk = Record<string, unknown>;

/** The algorithm a published key may verify, or null when it must not be used. */
function algOf(jwk: Jwk): AsymmetricAlg | null {
  if (jwk.use !== undefined && jwk.use !== 'sig') return null;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return null;
  let alg: AsymmetricAlg | null = null;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string') alg = 'ES256';
  // 2048-bit modulus or more: at least 342 base64url characters.
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && jwk.n.length >= 342 && typeof jwk.e === 'string') alg = 'RS256';
  if (alg === null) return null;
  if (jwk.alg !== undefined && jwk.alg !== alg) return null;
  return alg;
}

async function importKey(jwk: Jwk, alg: AsymmetricAlg): Promise<CryptoKey> {
  // Only the public parts: a published key is never a private one, and ext / key_ops of the
  // document must not decide how WebCrypto imports it.
  const pub: JsonWebKey = alg === 'ES256'
    ? { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string }
    : { kty: 'RSA', n: jwk.n as string, e: jwk.e as string };
  return await crypto.subtle.importKey('jwk', pub, ALGORITHMS[alg].import, false, ['verify']);
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new Error(`the JWKS is larger than ${maxBytes} bytes`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`the JWKS is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

export class JwksKeySource {
  readonly url: string;
  private readonly ttlMs: number;
  private readonly minRefetchMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxKeys: number;
  private readonly staleIfErrorMs: number;
  private readonly onError: (message: string) => void;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;

  private keys = new Map<string, CachedKey>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastFailed = false;
  private inflight: Promise<void> | null = null;
  private seeding: Promise<void> | null = null;
  /** Fetches started (successful or not): for tests and logs. */
  fetches = 0;

  constructor(opts: JwksOptions) {
    this.url = opts.url;
    this.ttlMs = opts.ttlMs ?? 600_000;
    this.minRefetchMs = opts.minRefetchMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 3_000;
    this.maxBytes = opts.maxBytes ?? 65_536;
    this.maxKeys = opts.maxKeys ?? 20;
    this.staleIfErrorMs = opts.staleIfErrorMs ?? 3_600_000;
    this.onError = opts.onError ?? (() => {});
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.now = opts.now ?? (() => Date.now());
    if (opts.initial) this.seeding = this.seed(opts.initial);
  }

  private async seed(initial: string): Promise<void> {
    try {
      if (initial.length > this.maxBytes) throw new Error(`larger than ${this.maxBytes} bytes`);
      this.keys = await this.importSet(initial);
      this.fetchedAt = this.now();
    } catch (err) {
      this.onError(`SUPABASE_JWKS (the JWKS given to the function): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The usable keys of a JWKS document (at most maxKeys looked at; bad or unusable keys skipped). */
  private async importSet(text: string): Promise<Map<string, CachedKey>> {
    const doc = JSON.parse(text) as { keys?: unknown };
    if (!doc || !Array.isArray(doc.keys)) throw new Error('no "keys" array');
    const next = new Map<string, CachedKey>();
    for (const jwk of doc.keys.slice(0, this.maxKeys) as Jwk[]) {
      if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || jwk.kid === '' || jwk.kid.length > 200) continue;
      const alg = algOf(jwk);
      if (!alg || next.has(jwk.kid)) continue;
      try {
        next.set(jwk.kid, { alg, key: await importKey(jwk, alg) });
      } catch {
        // a malformed key: skipped, the others still count
      }
    }
    return next;
  }

  /** The key the JWKS publishes under `kid` for `alg`, or null (unknown kid, other algorithm, JWKS unreachable). */
  async key(kid: string, alg: AsymmetricAlg): Promise<CryptoKey | null> {
    if (this.seeding) await this.seeding;
    let found = this.usable(kid);
    if (!found || this.expired()) {
      // A fetch under way is waited for (concurrent lookups share it); else one starts if allowed.
      if (this.inflight) await this.inflight;
      else if (this.now() - this.attemptedAt >= this.minRefetchMs) await this.refresh();
      found = this.usable(kid);
    }
    return found && found.alg === alg ? found.key : null;
  }

  private expired(): boolean {
    return this.now() - this.fetchedAt >= this.ttlMs;
  }

  private usable(kid: string): CachedKey | undefined {
    const age = this.now() - this.fetchedAt;
    const limit = this.ttlMs + (this.lastFailed ? this.staleIfErrorMs : 0);
    return age < limit ? this.keys.get(kid) : undefined;
  }

  /** Fetches the JWKS now (one fetch at a time; callers during a fetch wait for that one). */
  refresh(): Promise<void> {
    if (!this.inflight) {
      this.inflight = this.load().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async load(): Promise<void> {
    this.attemptedAt = this.now();
    this.fetches += 1;
    try {
      const res = await this.fetchFn(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      this.keys = await this.importSet(await readLimited(res, this.maxBytes));
      this.fetchedAt = this.now();
      this.lastFailed = false;
    } catch (err) {
      this.lastFailed = true;
      this.onError(`JWKS ${this.url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
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
