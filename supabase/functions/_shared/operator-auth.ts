// Who is this operator? The one check every operator endpoint uses (scheduler-admin today; the
// Supabase Auth sign-in of the operator-controls issue adds its kind here, beside these two).
//
//   - ADMIN_TOKEN, the bootstrap credential (and ADMIN_TOKEN_PREVIOUS while it is rotated), compared
//     in constant time, in memory;
//   - a named operator token (`op_` + 43 base64url characters: 256 random bits), looked up by its
//     SHA-256 in public.operator_tokens: valid while neither revoked nor expired;
//   - a Supabase Auth session (the user's access token, a JWT) when SUPABASE_JWT_SECRET is set: HS256
//     signature checked with that secret (the project's JWT secret), exp / nbf checked, aud
//     'authenticated', and the user must hold the operator role: app_metadata.role = 'operator'
//     (set by the project's admins with the service key: app_metadata cannot be changed by the user).
//     The audit trail names the user (user:<sub>:<email>).
//
// The answer names the credential (for the audit trail), never the token.

import type { SqlClient } from './db.ts';
import { authenticateOperatorToken } from './queries.ts';
import { timingSafeEqualStrings } from './secrets.ts';

export type OperatorIdentity =
  | { kind: 'admin_token'; actor: 'admin_token' | 'admin_token_previous'; tokenId: null; name: null }
  | { kind: 'operator_token'; actor: string; tokenId: string; name: string }
  | { kind: 'supabase_user'; actor: string; tokenId: null; name: string };

/** The app_metadata.role a Supabase Auth user needs to act as an operator. */
export const OPERATOR_ROLE = 'operator';
const JWT = /^([A-Za-z0-9_-]{2,200})\.([A-Za-z0-9_-]{2,8000})\.([A-Za-z0-9_-]{43})$/;

function base64urlBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/**
 * The operator a Supabase Auth access token names, when it is an HS256 JWT signed with `secret`,
 * in date, for aud 'authenticated', of a user whose app_metadata.role is 'operator'; else null.
 */
export async function verifySupabaseOperatorJwt(
  token: string,
  secret: string,
  now: Date,
): Promise<{ sub: string; email: string | null } | null> {
  const m = JWT.exec(token);
  if (!m) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(base64urlBytes(m[1]!))) as { alg?: unknown; typ?: unknown };
    if (header.alg !== 'HS256') return null;
    const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]);
    const ok = await crypto.subtle.verify('HMAC', key, base64urlBytes(m[3]!), encoder.encode(`${m[1]}.${m[2]}`));
    if (!ok) return null;
    const claims = JSON.parse(new TextDecoder().decode(base64urlBytes(m[2]!))) as Record<string, unknown>;
    const seconds = now.getTime() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp <= seconds) return null;
    if (typeof claims.nbf === 'number' && claims.nbf > seconds + 30) return null;
    const aud = claims.aud;
    if (!(aud === 'authenticated' || (Array.isArray(aud) && aud.includes('authenticated')))) return null;
    if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 100) return null;
    const app = claims.app_metadata as { role?: unknown } | undefined;
    if (app?.role !== OPERATOR_ROLE) return null;
    const email = typeof claims.email === 'string' && claims.email.length <= 100 ? claims.email : null;
    return { sub: claims.sub, email };
  } catch {
    return null;
  }
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
  const m = /^Bearer[ ]+(\S{1,1024})\s*$/i.exec(headers.get('authorization') ?? '');
  return m?.[1] ?? null;
}

export interface OperatorAuthOptions {
  /** ADMIN_TOKEN: always accepted. */
  adminToken: string;
  /** ADMIN_TOKEN_PREVIOUS: also accepted while the admin token is rotated. */
  adminTokenPrevious?: string | undefined;
  /** SUPABASE_JWT_SECRET: when set, Supabase Auth sessions of operator users are accepted. */
  jwtSecret?: string | undefined;
  db: SqlClient;
  now?: () => Date;
}

/**
 * The operator presenting `Authorization: Bearer <token>`, or null when the token is missing,
 * wrong, revoked or expired. Both admin tokens are always compared (timing does not tell which
 * matched); a named token costs one indexed lookup by hash.
 */
export async function authenticateOperator(headers: Headers, opts: OperatorAuthOptions): Promise<OperatorIdentity | null> {
  const presented = bearerToken(headers);
  if (presented === null) return null;
  const current = await timingSafeEqualStrings(presented, opts.adminToken);
  const previous = opts.adminTokenPrevious ? await timingSafeEqualStrings(presented, opts.adminTokenPrevious) : false;
  if (current) return { kind: 'admin_token', actor: 'admin_token', tokenId: null, name: null };
  if (previous) return { kind: 'admin_token', actor: 'admin_token_previous', tokenId: null, name: null };
  if (opts.jwtSecret && presented.split('.').length === 3) {
    const user = await verifySupabaseOperatorJwt(presented, opts.jwtSecret, (opts.now ?? (() => new Date()))());
    if (!user) return null;
    const label = `user:${user.sub}${user.email ? `:${user.email}` : ''}`.slice(0, 200);
    return { kind: 'supabase_user', actor: label, tokenId: null, name: user.email ?? user.sub };
  }
  if (!OPERATOR_TOKEN.test(presented)) return null;
  const row = await authenticateOperatorToken(opts.db, await sha256(presented), (opts.now ?? (() => new Date()))());
  return row ? { kind: 'operator_token', actor: `operator:${row.id}:${row.name}`, tokenId: row.id, name: row.name } : null;
}
