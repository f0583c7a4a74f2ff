// Supabase Edge Function entry point: scheduler-admin (the dashboard's API), built from its own
// configuration. Its manual trigger runs a tick with parts made the way scheduler-tick makes them.

import { composeFunction } from '../_shared/entry.ts';
import { createTickDeps } from '../_shared/tick-deps.ts';
import { AdminConfig } from './config.ts';
import { adminCorsHeaders, createAdminHandler } from './handler.ts';

Deno.serve(
  composeFunction({
    name: 'scheduler-admin',
    schema: AdminConfig,
    env: Deno.env.toObject(),
    misconfiguredHeaders: adminCorsHeaders(),
    build: (config, log) => createAdminHandler({ adminToken: config.ADMIN_TOKEN, deps: createTickDeps(config, log), log }),
  }),
);
