// Who is this operator? The one check every operator endpoint uses (scheduler-admin today; the
// Supabase Auth sign-in of the operator-controls issue adds its kind here, beside these two).
//
//   - ADMIN_TOKEN, the bootstrap credential (and ADMIN_TOKEN_PREVIOUS while it is rotated), compared
//     in constant time, in memory;
//   - a named operator token (`op_` + 43 base64url characters: 256 random bits), looked up by its
//     SHA-256 in public.operator_tokens: valid while neither revoked nor expired.
//
// The answer names the credential (for the audit trail), never the token.

import type { SqlClient } from './db.ts';
import { authenticateOperatorToken } from './queries.ts';
import { timingSafeEqualStrings } from './secrets.ts';

export type OperatorIdentity =
  | { kind: 'admin_token'; actor: 'admin_token' | 'admin_token_previous'; tokenId: null; name: null }
  | { kind: 'operator_token'; actor: string; tokenId: string; name: string };

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
  if (!OPERATOR_TOKEN.test(presented)) return null;
  const row = await authenticateOperatorToken(opts.db, await sha256(presented), (opts.now ?? (() => new Date()))());
  return row ? { kind: 'operator_token', actor: `operator:${row.id}:${row.name}`, tokenId: row.id, name: row.name } : null;
}
