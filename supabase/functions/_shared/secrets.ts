// Secret checks for the HTTP entry points. Comparisons are constant-time: both sides are hashed
// with SHA-256 first, so neither the length nor the first differing byte of the expected secret
// shows in the timing.

const encoder = new TextEncoder();

async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)));
}

/** Constant-time string equality (compares SHA-256 digests byte by byte without early exit). */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([sha256(a), sha256(b)]);
  let diff = 0;
  for (let i = 0; i < da.length; i++) diff |= (da[i] ?? 0) ^ (db[i] ?? 0);
  return diff === 0;
}

/** The secret a request presents: `Authorization: Bearer <secret>` (what Vercel Cron sends) or `x-cron-secret`. */
export function presentedSecret(headers: Headers): string | null {
  const auth = headers.get('authorization');
  if (auth) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (match?.[1]) return match[1];
  }
  const header = headers.get('x-cron-secret');
  return header && header.length > 0 ? header : null;
}

/**
 * True when the request carries one of the accepted secrets (the current one, or the previous one
 * during a rotation). Every accepted secret is compared, so timing does not reveal which matched.
 */
export async function verifyCronSecret(headers: Headers, accepted: readonly string[]): Promise<boolean> {
  const presented = presentedSecret(headers);
  if (presented === null || presented.length > 1024) return false;
  let ok = false;
  for (const secret of accepted) {
    if (secret.length === 0) continue;
    if (await timingSafeEqualStrings(presented, secret)) ok = true;
  }
  return ok;
}
