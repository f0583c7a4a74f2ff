// Who is this operator? The one check every operator endpoint uses (scheduler-admin today).
//
//   - ADMIN_TOKEN, the bootstrap credential (and ADMIN_TOKEN_PREVIOUS while it is rotated), compared
//     in constant time, in memory;
//   - a named operator token (`op_` + 43 base64url characters: 256 random bits), looked up by its
//     SHA-256 in public.operator_tokens: valid while neither revoked nor expired;
//   - a Supabase Auth session (the user's access token, a JWT), signed either
//       HS256 with the project's JWT secret (SUPABASE_JWT_SECRET or JWT_SECRET, when set), or
//       ES256 / RS256 with one of the project's asymmetric signing keys, looked up by the token's
//       kid in the project's JWKS (jwks.ts: SUPABASE_JWKS_URL / JWKS_URL, or derived from SUPABASE_URL);
//     the algorithm comes from the token but only picks among what is configured: an HS256 token
//     is only ever checked with the secret, an ES256 / RS256 one only with a JWKS key of that
//     algorithm (so a public key can never serve as an HMAC secret), and 'none' or any other alg
//     is refused. exp / nbf are checked and aud must be 'authenticated'. The checks are jose's
//     jwtVerify (and its createRemoteJWKSet for the keys). The session's role is its
//     app_metadata.role: 'viewer', 'operator' or 'admin' (set by the project's admins with the
//     service key: app_metadata cannot be changed by the user); a valid session of a user without
//     one of them is forbidden (403), not unauthenticated. The audit trail names the user
//     (user:<sub>:<email>).
//
// Every credential has one role (roles.ts): ADMIN_TOKEN and ADMIN_TOKEN_PREVIOUS are admin, a named
// token has the role stored with it, a session the role of its claims. The answer names the
// credential and its role (for the audit trail and the route's check), never the token.

import { errors as joseErrors, type JWTPayload, jwtVerify } from 'jose';
import type { SqlClient } from './db.ts';
import type { SessionKeys } from './jwks.ts';
import { authenticateOperatorToken } from './queries.ts';
import { OPERATOR_ROLES, type OperatorRole } from './roles.ts';
import { timingSafeEqualStrings } from './secrets.ts';

export type OperatorIdentity =
  | { kind: 'admin_token'; actor: 'admin_token' | 'admin_token_previous'; tokenId: null; name: null; role: 'admin' }
  | { kind: 'operator_token'; actor: string; tokenId: string; name: string; role: OperatorRole }
  | { kind: 'supabase_user'; actor: string; tokenId: null; name: string; role: OperatorRole };

/**
 * A credential refused: 401 (not a credential we accept: unknown, forged, expired...) or 403 (a
 * valid Supabase session of a user who is not an operator). `reason` is said to the caller only
 * when the token's signature was valid (the holder may learn that it expired).
 */
export interface AuthRefusal {
  kind: 'refused';
  status: 401 | 403;
  reason: string | null;
}

/** The app_metadata.role values that let a Supabase Auth user in (each the role of the same name). */
export const SESSION_ROLES: readonly OperatorRole[] = OPERATOR_ROLES;
// header . payload . signature (HS256: 43 characters; ES256: 86; RS256 2048-4096 bits: 342-683).
const JWT = /^([A-Za-z0-9_-]{2,400})\.([A-Za-z0-9_-]{2,7000})\.([A-Za-z0-9_-]{43,700})$/;

/** How Supabase Auth sessions are verified: the HS256 secret, the JWKS, either or both. */
export interface SessionVerifier {
  /** SUPABASE_JWT_SECRET / JWT_SECRET: HS256 sessions. */
  jwtSecret?: string | undefined;
  /** The project's JWKS: ES256 / RS256 sessions. */
  jwks?: SessionKeys | undefined;
}

export type SessionVerdict =
  | { ok: true; sub: string; email: string | null; role: OperatorRole }
  | { ok: false; status: 401 | 403; reason: string; signed: boolean };

const refuse = (reason: string, signed = false, status: 401 | 403 = 401): SessionVerdict => ({
  ok: false,
  status,
  reason,
  signed,
});

/** How far ahead of our clock a session's nbf may be (exp gets no such slack). */
const NBF_LEEWAY_SECONDS = 30;

/** What a jose refusal means for the caller: the reason, and whether the signature had been found valid. */
function refusalOf(err: unknown): SessionVerdict {
  if (err instanceof joseErrors.JWTExpired) return refuse('session expired', true);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'exp') return refuse('no expiry (exp)', true);
    if (err.claim === 'nbf') return refuse('session not yet valid', true);
    if (err.claim === 'aud') return refuse("not a signed-in user's session (aud is not 'authenticated')", true);
    if (err.claim === 'sub') return refuse('no subject', true);
    return refuse('malformed token');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refuse('bad signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return refuse('algorithm not accepted');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return refuse('unknown kid');
  if (err instanceof joseErrors.JWKSTimeout) return refuse('the JWKS could not be fetched');
  return refuse('malformed token');
}

/**
 * A Supabase Auth access token checked (jose's jwtVerify): signature (HS256 with the secret, or
 * ES256 / RS256 with the JWKS key its kid names), exp / nbf, aud 'authenticated', a subject, and a
 * scheduler role in app_metadata.role (viewer, operator or admin; 403 without one). Never throws.
 */
export async function verifySupabaseSession(token: string, verifier: SessionVerifier, now: Date): Promise<SessionVerdict> {
  if (!JWT.test(token)) return refuse('not a JWT');
  // Only the algorithms configured: an HS256 token is checked with the secret alone, an ES256 /
  // RS256 one with a JWKS key alone; 'none' and every other algorithm are refused by jose.
  const secret = verifier.jwtSecret ? encoder.encode(verifier.jwtSecret) : null;
  const jwks = verifier.jwks;
  const algorithms = [...(secret ? ['HS256'] : []), ...(jwks ? ['ES256', 'RS256'] : [])];
  let claims: JWTPayload;
  try {
    const verified = await jwtVerify(
      token,
      (header, input) => {
        if (header.alg === 'HS256' && secret) return secret;
        if ((header.alg === 'ES256' || header.alg === 'RS256') && jwks) {
          if (typeof header.kid !== 'string' || header.kid === '' || header.kid.length > 200) {
            throw new joseErrors.JWKSNoMatchingKey();
          }
          return jwks(header, input);
        }
        throw new joseErrors.JOSEAlgNotAllowed('algorithm not accepted');
      },
      {
        algorithms,
        audience: 'authenticated',
        requiredClaims: ['exp', 'sub'],
        currentDate: now,
        clockTolerance: NBF_LEEWAY_SECONDS,
      },
    );
    claims = verified.payload;
  } catch (err) {
    return refusalOf(err);
  }
  // jose's tolerance is for nbf; an expired session gets none.
  if (typeof claims.exp !== 'number' || claims.exp <= now.getTime() / 1000) return refuse('session expired', true);
  if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 100) return refuse('no subject', true);
  const app = claims.app_metadata as { role?: unknown } | undefined;
  const role = SESSION_ROLES.find((r) => r === app?.role);
  if (!role) {
    return refuse(
      `this user holds no scheduler role (app_metadata.role must be one of ${SESSION_ROLES.join(', ')})`,
      true,
      403,
    );
  }
  const email = typeof claims.email === 'string' && claims.email.length <= 100 ? claims.email : null;
  return { ok: true, sub: claims.sub, email, role };
}

export const OPERATOR_TOKEN_PREFIX = 'op_';
const OPERATOR_TOKEN = /^op_[A-Za-z0-9_-]{43}$/;

const encoder = new TextEncoder();

export async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)));
}

/** A new operator token: `op_` and 32 random bytes, base64url (shown once, stored as its SHA-256). */
export function generateOperatorToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return OPERATOR_TOKEN_PREFIX + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The Bearer token of a request (bounded), or null. */
export function bearerToken(headers: Headers): string | null {
  const m = /^Bearer[ ]+(\S{1,8192})\s*$/i.exec(headers.get('authorization') ?? '');
  return m?.[1] ?? null;
}

export interface OperatorAuthOptions {
  /** ADMIN_TOKEN: always accepted. */
  adminToken: string;
  /** ADMIN_TOKEN_PREVIOUS: also accepted while the admin token is rotated. */
  adminTokenPrevious?: string | undefined;
  /** SUPABASE_JWT_SECRET: when set, HS256 Supabase Auth sessions of operator users are accepted. */
  jwtSecret?: string | undefined;
  /** The project's JWKS: when set, ES256 / RS256 Supabase Auth sessions of operator users are accepted. */
  jwks?: SessionKeys | undefined;
  db: SqlClient;
  now?: () => Date;
}

/**
 * The operator presenting `Authorization: Bearer <token>`, or a refusal: 401 when the token is
 * missing, wrong, revoked, expired or forged; 403 for a valid Supabase session of a user who is not
 * an operator. Both admin tokens are always compared (timing does not tell which matched); a named
 * token costs one indexed lookup by hash.
 */
export async function authenticateOperator(
  headers: Headers,
  opts: OperatorAuthOptions,
): Promise<OperatorIdentity | AuthRefusal> {
  const unauthorized: AuthRefusal = { kind: 'refused', status: 401, reason: null };
  const presented = bearerToken(headers);
  if (presented === null) return unauthorized;
  const current = await timingSafeEqualStrings(presented, opts.adminToken);
  const previous = opts.adminTokenPrevious ? await timingSafeEqualStrings(presented, opts.adminTokenPrevious) : false;
  if (current) return { kind: 'admin_token', actor: 'admin_token', tokenId: null, name: null, role: 'admin' };
  if (previous) return { kind: 'admin_token', actor: 'admin_token_previous', tokenId: null, name: null, role: 'admin' };
  if ((opts.jwtSecret || opts.jwks) && presented.split('.').length === 3) {
    const verdict = await verifySupabaseSession(
      presented,
      { jwtSecret: opts.jwtSecret, jwks: opts.jwks },
      (opts.now ?? (() => new Date()))(),
    );
    if (!verdict.ok) return { kind: 'refused', status: verdict.status, reason: verdict.signed ? verdict.reason : null };
    const label = `user:${verdict.sub}${verdict.email ? `:${verdict.email}` : ''}`.slice(0, 200);
    return { kind: 'supabase_user', actor: label, tokenId: null, name: verdict.email ?? verdict.sub, role: verdict.role };
  }
  if (!OPERATOR_TOKEN.test(presented)) return unauthorized;
  const row = await authenticateOperatorToken(opts.db, await sha256(presented), (opts.now ?? (() => new Date()))());
  return row
    ? { kind: 'operator_token', actor: `operator:${row.id}:${row.name}`, tokenId: row.id, name: row.name, role: row.role }
    : unauthorized;
}
