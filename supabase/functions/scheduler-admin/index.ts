// Supabase Edge Function entry point: scheduler-admin (the dashboard's API), built from its own
// configuration. Its manual trigger runs a tick with parts made the way scheduler-tick makes them.

import { authLimitOf, DashboardOriginEnv } from '../_shared/config.ts';
import { corsHeaders } from '../_shared/cors.ts';
import { composeFunction } from '../_shared/entry.ts';
import { jwksSeedOf, jwksUrlOf, remoteJwks } from '../_shared/jwks.ts';
import { createTickDeps } from '../_shared/tick-deps.ts';
import { AdminConfig } from './config.ts';
import { createAdminHandler } from './handler.ts';

const env = Deno.env.toObject();
const origins = DashboardOriginEnv.safeParse(env);

Deno.serve(
  composeFunction({
    name: 'scheduler-admin',
    schema: AdminConfig,
    env,
    misconfiguredHeaders: (req) => corsHeaders(req.headers.get('origin'), origins.success ? origins.data.DASHBOARD_ORIGIN : []),
    build: (config, log) => {
      if (config.DASHBOARD_ORIGIN.length === 0) {
        log.warn('cors_closed', {
          message:
            "DASHBOARD_ORIGIN is not set: no browser may call scheduler-admin; set it to the dashboard's origin (e.g. https://scheduler.example.org)",
        });
      }
      const jwksUrl = jwksUrlOf(config);
      const jwks = jwksUrl
        ? remoteJwks({
          url: jwksUrl,
          ttlMs: config.JWKS_TTL_SECONDS * 1000,
          initial: jwksSeedOf(config),
          onError: (message) => log.warn('jwks_fetch_failed', { message }),
        })
        : undefined;
      return createAdminHandler({
        adminToken: config.ADMIN_TOKEN,
        adminTokenPrevious: config.ADMIN_TOKEN_PREVIOUS,
        jwtSecret: config.SUPABASE_JWT_SECRET ?? config.JWT_SECRET,
        jwks,
        deps: createTickDeps(config, log),
        log,
        allowedOrigins: config.DASHBOARD_ORIGIN,
        authLimit: authLimitOf(config),
        allowInsecureUrls: config.ALLOW_INSECURE_URLS,
        allowPrivateWebhookUrls: config.WEBHOOKS_ALLOW_PRIVATE_URLS,
      });
    },
  }),
);
