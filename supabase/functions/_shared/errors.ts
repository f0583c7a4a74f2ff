// One coercion for unknown throwables, so every error that reaches a log or a run row is an Error
// with a message (graphile-worker's coerceError is the model). Runs under Node and Deno alike.

export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  // Error-like objects (a rejected fetch in some runtimes, a pg notice, a DOMException polyfill).
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
    const err = new Error((e as { message: string }).message, { cause: e });
    const name = (e as { name?: unknown }).name;
    if (typeof name === 'string' && name) err.name = name;
    return err;
  }
  try {
    return new Error(`non-error thrown: ${JSON.stringify(e)}`, { cause: e });
  } catch {
    return new Error(`non-error thrown: ${String(e)}`, { cause: e });
  }
}
