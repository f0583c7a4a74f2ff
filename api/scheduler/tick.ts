// Vercel Function for Vercel Cron (vercel.json: "/api/scheduler/tick" every minute).
import { createTickRoute } from '../_lib/tick-route.ts';

const route = createTickRoute({ env: process.env });

export function GET(request: Request): Promise<Response> {
  return route(request);
}

export function POST(request: Request): Promise<Response> {
  return route(request);
}
