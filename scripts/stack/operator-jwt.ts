// A Supabase Auth access token for the local stack and the tests (GoTrue is not run here), shaped
// as GoTrue issues them (sub, email, role 'authenticated', aud 'authenticated', app_metadata), with
// app_metadata.role 'operator' unless told otherwise (scheduler-admin accepts viewer, operator and
// admin, each the role of the same name). Signed HS256 with the project's JWT secret (SUPABASE_JWT_SECRET: mintSupabaseJwt), or
// ES256 / RS256 with a private key whose public half a JWKS publishes under `kid`
// (mintSupabaseJwtWithKey: what projects with asymmetric signing keys issue).

import { createHmac, type KeyObject, randomUUID, sign } from 'node:crypto';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export interface SessionClaims {
  sub?: string;
  email?: string;
  /** app_metadata.role; null: none. Default 'operator'. */
  appRole?: string | null;
  ttlSeconds?: number;
  now?: Date;
  aud?: string;
  /** Not valid before this moment (nbf); default: no nbf. */
  nbf?: Date;
}

function payloadOf(claims: SessionClaims): Record<string, unknown> {
  const iat = Math.floor((claims.now ?? new Date()).getTime() / 1000);
  return {
    iss: 'http://127.0.0.1:54321/auth/v1',
    sub: claims.sub ?? randomUUID(),
    aud: claims.aud ?? 'authenticated',
    role: 'authenticated',
    email: claims.email ?? 'operator@example.org',
    iat,
    exp: iat + (claims.ttlSeconds ?? 3600),
    ...(claims.nbf ? { nbf: Math.floor(claims.nbf.getTime() / 1000) } : {}),
    app_metadata: {
      provider: 'email',
      providers: ['email'],
      ...(claims.appRole === null ? {} : { role: claims.appRole ?? 'operator' }),
    },
    user_metadata: {},
  };
}

export function mintSupabaseJwt(secret: string, claims: SessionClaims = {}): string {
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(payloadOf(claims)))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** An ES256 (EC P-256 key) or RS256 (RSA key) session, its header naming `kid`. */
export function mintSupabaseJwtWithKey(
  key: { alg: 'ES256' | 'RS256'; kid: string; privateKey: KeyObject },
  claims: SessionClaims = {},
): string {
  const head = `${b64url(JSON.stringify({ alg: key.alg, typ: 'JWT', kid: key.kid }))}.${
    b64url(JSON.stringify(payloadOf(claims)))
  }`;
  const signature = key.alg === 'ES256'
    ? sign('sha256', Buffer.from(head), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    : sign('sha256', Buffer.from(head), key.privateKey);
  return `${head}.${b64url(signature)}`;
}
