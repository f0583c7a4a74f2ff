// Supabase Edge Function entry point: serve the handler built from the environment.
import { buildFunction } from '../_shared/app.ts';

Deno.serve(buildFunction('call-status', Deno.env.toObject()));
