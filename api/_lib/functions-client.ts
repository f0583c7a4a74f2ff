// Calls our own Edge Functions from Node with plain fetch: the Vercel tick route and the local tools
// (npm start's ticks, npm run campaign) use it. Every call goes to `<functions URL>/<name>`, carries
// the caller's own secret in the Authorization header and nothing else that could be a credential
// (these functions are deployed with --no-verify-jwt and check their own secret: no project key),
// has a timeout, and refuses redirects (`redirect: 'manual'`: a 3xx is an answer we look at, never
// a hop to another host with our secret).

/** `<SUPABASE_URL>/functions/v1/<name>`: what a function's URL looks like on Supabase and locally. */
const FUNCTION_URL = /^(.*)\/functions\/v1\/([A-Za-z0-9_-]+)\/?$/;

/** Splits a function's URL into the project URL and the function's name. */
export function parseFunctionUrl(url: string): { supabaseUrl: string; name: string } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.search || u.hash || u.username || u.password) return undefined;
  const m = FUNCTION_URL.exec(u.pathname);
  if (!m) return undefined;
  return { supabaseUrl: `${u.origin}${m[1]}`, name: m[2]! };
}

export interface FunctionsCallerOptions {
  /** `<SUPABASE_URL>/functions/v1` (or the project URL itself). */
  functionsUrl: string;
  /** Sent as `Authorization: Bearer <secret>` on every call. */
  secret: string;
  /** Each call is aborted after this long. */
  timeoutMs: number;
  /** The transport (default: the global fetch). */
  fetch?: typeof fetch;
  /** Sent as user-agent. */
  userAgent?: string;
}

export interface InvokeOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** JSON (an object), or text sent as is (with headers['content-type'], e.g. text/csv). */
  body?: Record<string, unknown> | string;
  /** Extra request headers (never Authorization: the caller's secret is always the one sent). */
  headers?: Record<string, string>;
}

/** What a function call came to, whatever the function answered. */
export type InvokeResult =
  | {
    answered: true;
    status: number;
    /** The parsed JSON body; undefined when the body was not JSON. */
    json: unknown;
    /** The body as text (for messages and CSV; may be empty). */
    text: string;
  }
  | { answered: false; timedOut: boolean; error: string };

export type InvokeFunction = (name: string, opts?: InvokeOptions) => Promise<InvokeResult>;

export function createFunctionsCaller(opts: FunctionsCallerOptions): InvokeFunction {
  const base = `${opts.functionsUrl.replace(/\/+$/, '').replace(/\/functions\/v1$/, '')}/functions/v1`;
  const fetchFn = opts.fetch ?? fetch;

  return async (name, { method = 'POST', body, headers } = {}) => {
    const sent = new Headers(headers);
    sent.set('authorization', `Bearer ${opts.secret}`);
    if (opts.userAgent) sent.set('user-agent', opts.userAgent);
    let payload: string | undefined;
    if (typeof body === 'string') {
      payload = body;
      if (!sent.has('content-type')) sent.set('content-type', 'text/plain;charset=UTF-8');
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      sent.set('content-type', 'application/json');
    }
    try {
      const res = await fetchFn(`${base}/${name}`, {
        method,
        headers: sent,
        ...(payload !== undefined ? { body: payload } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      return fromText(res.status, await res.text());
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return { answered: false, timedOut, error: err instanceof Error ? err.message : String(err) };
    }
  };
}

function fromText(status: number, text: string): InvokeResult {
  try {
    return { answered: true, status, json: JSON.parse(text) as unknown, text };
  } catch {
    return { answered: true, status, json: undefined, text };
  }
}
