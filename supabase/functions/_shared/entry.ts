// What every function's index.ts does with its configuration: validate it (the function's own zod
// schema), then build the handler from it. A missing or invalid variable closes this function
// only: one config_error log line naming the variable, and 500 server_misconfigured to every
// request, never an open door.

import type { z } from 'zod';
import { ConfigError, parseConfig, secretsOf } from './config.ts';
import { coerceError } from './errors.ts';
import { jsonResponse } from './http.ts';
import { createLogger, type Logger, type LogLevel } from './log.ts';
import type { ServeInfo } from './auth-limit.ts';

/** A function's handler, as the runtime's serve() calls it (info: the connection, for the client address). */
export type Handler = (req: Request, info?: ServeInfo) => Promise<Response>;

export interface ComposeOptions<C> {
  /** The function's name (its folder), used as the log's service. */
  name: string;
  schema: z.ZodType<C>;
  env: Record<string, string | undefined>;
  /** Builds the handler from the validated configuration, with a logger that redacts its secrets. */
  build(config: C, log: Logger): Handler;
  /** Extra headers on the misconfigured answer (CORS for the dashboard API), by request. */
  misconfiguredHeaders?: (req: Request) => Record<string, string>;
  write?: (line: string, level: LogLevel) => void;
}

export function composeFunction<C>(opts: ComposeOptions<C>): Handler {
  const writer = opts.write ? { write: opts.write } : {};
  try {
    const config = parseConfig(opts.schema, opts.env);
    return opts.build(config, createLogger({ service: opts.name, secrets: secretsOf(config as object), ...writer }));
  } catch (err) {
    const e = coerceError(err);
    createLogger({ service: opts.name, ...writer }).error('config_error', {
      variable: err instanceof ConfigError ? err.variable : null,
      message: e.message,
    });
    const headers = opts.misconfiguredHeaders ?? (() => ({}));
    return (req) => Promise.resolve(jsonResponse({ error: 'server_misconfigured' }, 500, headers(req)));
  }
}
