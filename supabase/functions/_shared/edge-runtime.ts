// EdgeRuntime.waitUntil, the one global the Supabase edge runtime adds (the local gateway's worker
// provides it too): keeps a promise alive after the response is sent, so work such as a follow-up
// write does not hold the request open. Where there is no edge runtime (Node, tests) the promise
// simply runs on.

interface EdgeRuntimeGlobal {
  waitUntil<T>(promise: Promise<T>): Promise<T>;
}

/**
 * Calls onShutdown when the runtime is about to shut the function's isolate down (Supabase's edge
 * runtime dispatches 'beforeunload' near the wall-clock limit; the local gateway does too when it
 * stops). Returns a function that removes the listener.
 */
export function onShutdown(onShutdown: () => void): () => void {
  const target = globalThis as unknown as {
    addEventListener?: (type: string, fn: () => void) => void;
    removeEventListener?: (type: string, fn: () => void) => void;
  };
  if (typeof target.addEventListener !== 'function') return () => undefined;
  const listener = () => onShutdown();
  target.addEventListener('beforeunload', listener);
  return () => target.removeEventListener?.('beforeunload', listener);
}

/** Runs `promise` past the response. A rejection goes to onError (the runtime logs it when there is none). */
export function waitUntil<T>(promise: Promise<T>, onError?: (err: unknown) => void): void {
  const guarded = onError ? promise.catch(onError) : promise;
  const runtime = (globalThis as { EdgeRuntime?: EdgeRuntimeGlobal }).EdgeRuntime;
  if (runtime) runtime.waitUntil(guarded);
  else guarded.catch(() => undefined);
}
