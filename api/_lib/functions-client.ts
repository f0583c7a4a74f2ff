// Calls our own Edge Functions from Node with supabase-js (`functions.invoke`): the Vercel tick
// route and the local tools (npm start's ticks) use it. Every call carries the caller's own secret
// in the Authorization header, has a timeout, and refuses redirects (the custom fetch below sets
// `redirect: 'manual'`, so a 3xx is an answer we look at, never a hop to another host with our
// secret).
//
// supabase-js wants a project key; these functions are deployed with --no-verify-jwt and check
// their own secret, so no key is sent: the `apikey` header supabase-js adds is removed again.

import { createClient, FunctionsFetchError, FunctionsHttpError, FunctionsRelayError } from '@supabase/supabase-js';

/** `<SUPABASE_URL>/functions/v1/<name>`: what a function's URL looks like on Supabase and locally. */
const FUNCTION_URL = /^(.*)\/functions\/v1\/([A-Za-z0-9_-]+)\/?$/;

/** Splits a function's URL into the project URL supabase-js wants and the function's name. */
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

/** What a function call came to, whatever the function answered (supabase-js's error classes folded in). */
export type InvokeResult =
  | {
    answered: true;
    status: number;
    /** The parsed JSON body; undefined when the body was not JSON. */
    json: unknown;
    /** The body as text when it was not JSON (for messages; may be empty). */
    text: string;
  }
  | { answered: false; timedOut: boolean; error: string };

export type InvokeFunction = (name: string, opts?: InvokeOptions) => Promise<InvokeResult>;

/** supabase-js needs some key to build a client; it never leaves this process (see the header). */
const NO_KEY = 'no-project-key';

/**
 * Realtime is never used here, but supabase-js builds its client up front and, on Node.js before
 * 22 (no global WebSocket), refuses to without a transport: this one says why if it is ever used.
 */
class NoRealtime {
  constructor() {
    throw new Error('realtime is not used by the functions caller');
  }
}

export function createFunctionsCaller(opts: FunctionsCallerOptions): InvokeFunction {
  const supabaseUrl = opts.functionsUrl.replace(/\/+$/, '').replace(/\/functions\/v1$/, '');
  const baseFetch = opts.fetch ?? fetch;
  // The answer each call got, by the call's own signal: supabase-js throws away the response when a
  // JSON content-type carries a body that does not parse, and we still want its status.
  const answers = new WeakMap<AbortSignal, Response>();
  const client = createClient(supabaseUrl, NO_KEY, {
    accessToken: async () => opts.secret,
    realtime: { transport: NoRealtime as never },
    global: {
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers);
        headers.delete('apikey');
        if (opts.userAgent) headers.set('user-agent', opts.userAgent);
        const signal = init?.signal ?? AbortSignal.timeout(opts.timeoutMs);
        const res = await baseFetch(input, { ...init, headers, redirect: 'manual', signal });
        answers.set(signal, res);
        return res;
      },
    },
  });

  return async (name, { method = 'POST', body, headers } = {}) => {
    const signal = AbortSignal.timeout(opts.timeoutMs);
    const { data, error } = await client.functions.invoke(name, {
      method,
      ...(body !== undefined ? { body } : {}),
      headers: { ...headers, Authorization: `Bearer ${opts.secret}` },
      signal,
    });
    if (!error) {
      const status = answers.get(signal)?.status ?? 200;
      if (typeof data === 'string') return fromText(status, data);
      // A JSON content-type (parsed by supabase-js); anything else (a Blob, a stream) is not JSON.
      const isJson = !(data instanceof Blob || data instanceof FormData || data instanceof Response);
      return { answered: true, status, json: isJson ? (data as unknown) : undefined, text: '' };
    }
    if (error instanceof FunctionsHttpError || error instanceof FunctionsRelayError) {
      const res = error.context as Response;
      return fromText(res.status, await res.text().catch(() => ''));
    }
    if (error instanceof FunctionsFetchError) {
      const cause = error.context as unknown;
      const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
      return { answered: false, timedOut, error: cause instanceof Error ? cause.message : String(cause) };
    }
    // The function answered (a JSON content-type) with a body that does not parse.
    const res = answers.get(signal);
    if (res) return { answered: true, status: res.status, json: undefined, text: '' };
    return { answered: false, timedOut: false, error: error instanceof Error ? error.message : String(error) };
  };
}

function fromText(status: number, text: string): InvokeResult {
  try {
    return { answered: true, status, json: JSON.parse(text) as unknown, text };
  } catch {
    return { answered: true, status, json: undefined, text };
  }
}
