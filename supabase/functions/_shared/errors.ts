// One coercion for unknown throwables, so every error that reaches a log or a run row is an Error
// with a message (graphile-worker's coerceError is the model).

export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(e)}`);
  } catch {
    return new Error(`non-error thrown: ${String(e)}`);
  }
}
