// CORS of the functions a browser calls (scheduler-admin): only the configured dashboard origins
// (DASHBOARD_ORIGIN) get allow headers; `*` only when it is configured so. A request from any
// other origin, preflight included, gets none, so the browser refuses to hand the answer over.

export function corsHeaders(origin: string | null, allowed: readonly string[]): Record<string, string> {
  const vary = { vary: 'Origin' };
  if (allowed.includes('*')) return { ...vary, ...allowHeaders('*') };
  if (origin === null || !allowed.includes(origin)) return vary;
  return { ...vary, ...allowHeaders(origin) };
}

function allowHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-headers': 'authorization, content-type',
    'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
    'access-control-max-age': '600',
  };
}
