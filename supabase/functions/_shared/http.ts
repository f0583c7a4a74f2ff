// Small HTTP helpers shared by the Edge Functions: bounded body reading and JSON answers.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string = 'bad_request',
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Reads the body as text, refusing (413) bodies over maxBytes without buffering them whole. */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<string> {
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    const n = Number(declared);
    if (!Number.isFinite(n) || n < 0) throw new HttpError(400, 'invalid content-length', 'bad_request');
    if (n > maxBytes) throw new HttpError(413, `body larger than ${maxBytes} bytes`, 'payload_too_large');
  }
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new HttpError(413, `body larger than ${maxBytes} bytes`, 'payload_too_large');
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new HttpError(400, 'body is not valid UTF-8', 'bad_encoding');
  }
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

export function errorResponse(err: HttpError): Response {
  return jsonResponse({ error: err.code, message: err.message }, err.status);
}
