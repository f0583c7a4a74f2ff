// A Supabase Auth access token for the local stack and the tests (GoTrue is not run here): an HS256
// JWT signed with the project's JWT secret (SUPABASE_JWT_SECRET), shaped as GoTrue issues them (sub,
// email, role 'authenticated', aud 'authenticated', app_metadata), with app_metadata.role
// 'operator' unless told otherwise: what scheduler-admin accepts as an operator's session.

import { createHmac, randomUUID } from 'node:crypto';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export function mintSupabaseJwt(
  secret: string,
  claims: { sub?: string; email?: string; appRole?: string | null; ttlSeconds?: number; now?: Date; aud?: string } = {},
): string {
  const iat = Math.floor((claims.now ?? new Date()).getTime() / 1000);
  const payload = {
    iss: 'http://127.0.0.1:54321/auth/v1',
    sub: claims.sub ?? randomUUID(),
    aud: claims.aud ?? 'authenticated',
    role: 'authenticated',
    email: claims.email ?? 'operator@example.org',
    iat,
    exp: iat + (claims.ttlSeconds ?? 3600),
    app_metadata: {
      provider: 'email',
      providers: ['email'],
      ...(claims.appRole === null ? {} : { role: claims.appRole ?? 'operator' }),
    },
    user_metadata: {},
  };
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}
