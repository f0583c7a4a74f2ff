// Vercel Function: tells the dashboard (public/) where the Edge Functions are. No secret here: the
// operator types the admin token into the dashboard.
export function GET(): Response {
  const functionsUrl = process.env.SUPABASE_FUNCTIONS_URL ?? null;
  return new Response(JSON.stringify({ functionsUrl }), {
    status: functionsUrl ? 200 : 500,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
}
