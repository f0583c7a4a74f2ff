// The shape of the Edge Functions, as Supabase bundles them (one bundle per function, from its
// index.ts): an entry point and what it imports never reach into another function's folder;
// _shared/ never imports a function folder; handlers and the shared core never touch Deno's
// globals (index.ts reads the environment, once). And each function's own configuration closes only
// that function when a variable it needs is missing.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { composeFunction } from '../../supabase/functions/_shared/entry.ts';
import { createLogger } from '../../supabase/functions/_shared/log.ts';
import { createTickRoute } from '../../api/_lib/tick-route.ts';
import { TickConfig } from '../../supabase/functions/scheduler-tick/config.ts';
import { AdminConfig } from '../../supabase/functions/scheduler-admin/config.ts';
import { CallStatusConfig } from '../../supabase/functions/call-status/config.ts';
import { MetricsConfig } from '../../supabase/functions/scheduler-metrics/config.ts';

const FUNCTIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'supabase', 'functions');
const functionNames = readdirSync(FUNCTIONS, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !d.name.startsWith('_') && !d.name.startsWith('.'))
  .map((d) => d.name);

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? tsFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a module (static, dynamic and re-exports), resolved to absolute paths. */
function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
    .map(
      (m) => (m[1] ?? m[2])!,
    );
  return specs.filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s));
}

/** Every module an entry point loads (its import graph inside supabase/functions). */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const dep of localImports(f)) todo.push(dep);
  }
  return seen;
}

const folderOf = (file: string) => path.relative(FUNCTIONS, file).split(path.sep)[0]!;

describe('entry points', () => {
  it('finds the four functions, each with its index.ts, handler.ts and config.ts', () => {
    expect(functionNames.sort()).toEqual(['call-status', 'scheduler-admin', 'scheduler-metrics', 'scheduler-tick']);
    for (const name of functionNames) {
      for (const f of ['index.ts', 'handler.ts', 'config.ts']) {
        expect(statSync(path.join(FUNCTIONS, name, f)).isFile(), `${name}/${f}`).toBe(true);
      }
    }
  });

  it.each(functionNames)('%s/index.ts loads nothing from another function folder', (name) => {
    const graph = [...importGraph(path.join(FUNCTIONS, name, 'index.ts'))];
    const foreign = graph.filter((f) => !f.startsWith(FUNCTIONS + path.sep) || ![name, '_shared'].includes(folderOf(f)));
    expect(foreign.map((f) => path.relative(FUNCTIONS, f))).toEqual([]);
    // And the graph is real: the entry point reaches its handler and config.
    expect(graph).toContain(path.join(FUNCTIONS, name, 'handler.ts'));
    expect(graph).toContain(path.join(FUNCTIONS, name, 'config.ts'));
  });

  it('_shared/ imports nothing outside _shared/', () => {
    const shared = path.join(FUNCTIONS, '_shared');
    const offenders = tsFiles(shared).flatMap((f) =>
      localImports(f)
        .filter((dep) => !dep.startsWith(shared + path.sep))
        .map((dep) => `${path.relative(FUNCTIONS, f)} -> ${path.relative(FUNCTIONS, dep)}`)
    );
    expect(offenders).toEqual([]);
  });

  it('every function file imports only its own folder and _shared/', () => {
    const offenders = functionNames.flatMap((name) =>
      tsFiles(path.join(FUNCTIONS, name)).flatMap((f) =>
        localImports(f)
          .filter((dep) => ![name, '_shared'].includes(folderOf(dep)))
          .map((dep) => `${path.relative(FUNCTIONS, f)} -> ${path.relative(FUNCTIONS, dep)}`)
      )
    );
    expect(offenders).toEqual([]);
  });

  it('the import check sees a forbidden import (it would fail)', () => {
    // A copy of the old shape in a scratch tree: scheduler-admin importing scheduler-tick's handler.
    const root = mkdtempSync(path.join(tmpdir(), 'fn-imports-'));
    try {
      mkdirSync(path.join(root, 'scheduler-admin'));
      const file = path.join(root, 'scheduler-admin', 'handler.ts');
      writeFileSync(
        file,
        "import { x } from '../_shared/http.ts';\nimport { tickResponseBody } from '../scheduler-tick/handler.ts';\n",
      );
      const folders = localImports(file).map((dep) => path.relative(root, dep).split(path.sep)[0]);
      expect(folders).toEqual(['_shared', 'scheduler-tick']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('handlers, configs and the shared core never touch Deno; each index.ts reads the environment once and serves', () => {
    const pure = [
      ...tsFiles(path.join(FUNCTIONS, '_shared')),
      ...functionNames.flatMap((n) => tsFiles(path.join(FUNCTIONS, n)).filter((f) => !f.endsWith(`${path.sep}index.ts`))),
    ];
    expect(pure.filter((f) => /\bDeno\./.test(readFileSync(f, 'utf8'))).map((f) => path.relative(FUNCTIONS, f))).toEqual([]);
    for (const name of functionNames) {
      const text = readFileSync(path.join(FUNCTIONS, name, 'index.ts'), 'utf8');
      expect(text.match(/Deno\.env\./g), name).toHaveLength(1);
      expect(text.match(/Deno\.serve\(/g), name).toHaveLength(1);
      expect(text, name).not.toMatch(/EdgeRuntime|globalThis/);
    }
  });
});

describe("each function's own configuration", () => {
  const complete: Record<string, string> = {
    SUPABASE_DB_URL: 'postgresql://u:p@127.0.0.1:1/db',
    PUBLIC_FUNCTIONS_URL: 'http://127.0.0.1:1/functions/v1',
    CRON_SECRET: 'cron-secret-long-enough-0123456789abcdef',
    ADMIN_TOKEN: 'admin-token-long-enough-0123456789abcdef',
    TWILIO_ACCOUNT_SID: 'AC0123',
    TWILIO_AUTH_TOKEN: 'twilio-token',
    ALLOW_INSECURE_URLS: '1',
  };

  function compose(
    name: string,
    schema: Parameters<typeof composeFunction>[0]['schema'],
    env: Record<string, string | undefined>,
  ) {
    const lines: Array<Record<string, unknown>> = [];
    let built = false;
    const handler = composeFunction({
      name,
      schema,
      env,
      build: () => {
        built = true;
        return async () => new Response('ok');
      },
      write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    return { handler, lines, built: () => built };
  }

  it.each(
    [
      ['scheduler-tick', TickConfig, 'CRON_SECRET'],
      ['scheduler-tick', TickConfig, 'TWILIO_AUTH_TOKEN'],
      ['scheduler-tick', TickConfig, 'SUPABASE_DB_URL'],
      ['scheduler-admin', AdminConfig, 'ADMIN_TOKEN'],
      ['call-status', CallStatusConfig, 'PUBLIC_FUNCTIONS_URL'],
      ['call-status', CallStatusConfig, 'TWILIO_AUTH_TOKEN'],
      ['scheduler-metrics', MetricsConfig, 'SUPABASE_DB_URL'],
    ] as const,
  )('%s without %s: 500 server_misconfigured and one config_error line naming it', async (name, schema, variable) => {
    const c = compose(name, schema, { ...complete, [variable]: '  ' });
    expect(c.built()).toBe(false);
    const res = await c.handler(new Request('http://x/'));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'server_misconfigured' });
    expect(c.lines).toHaveLength(1);
    expect(c.lines[0]).toMatchObject({ level: 'error', service: name, event: 'config_error', variable });
    expect(String(c.lines[0]!.message)).toContain(variable);
  });

  it('a variable one function needs does not close another: scheduler-metrics runs without CRON_SECRET, ADMIN_TOKEN or Twilio', () => {
    const c = compose('scheduler-metrics', MetricsConfig, { SUPABASE_DB_URL: complete.SUPABASE_DB_URL });
    expect(c.built()).toBe(true);
    expect(c.lines).toEqual([]);
  });

  it('a Vapi or Retell API URL in clear is refused unless ALLOW_INSECURE_URLS (the key would travel in clear)', () => {
    const https = { ...complete, PUBLIC_FUNCTIONS_URL: 'https://example.test/functions/v1', ALLOW_INSECURE_URLS: '0' };
    for (const [key, base] of [['VAPI_API_KEY', 'VAPI_API_BASE_URL'], ['RETELL_API_KEY', 'RETELL_API_BASE_URL']] as const) {
      const c = compose('scheduler-tick', TickConfig, { ...https, [key]: 'platform-key', [base]: 'http://127.0.0.1:9' });
      expect(c.built(), base).toBe(false);
      expect(c.lines[0]).toMatchObject({ event: 'config_error', variable: base });
      expect(
        compose('scheduler-tick', TickConfig, { ...https, [key]: 'platform-key', [base]: 'https://api.example.test' }).built(),
      )
        .toBe(true);
    }
  });

  // A valid credential is never refused by the failure limit, so a guessable one is refused at
  // start-up: too short, too few distinct characters, one piece repeated.
  const weak = {
    short: 'Zq3xY7pLm2Nv8Kd1',
    'one character': 'a'.repeat(64),
    'two characters': 'ab'.repeat(20),
    'a piece repeated': '0123456789abcdef'.repeat(2),
  };
  it.each(
    [
      ['scheduler-tick', TickConfig, 'CRON_SECRET'],
      ['scheduler-tick', TickConfig, 'CRON_SECRET_PREVIOUS'],
      ['scheduler-admin', AdminConfig, 'ADMIN_TOKEN'],
      ['scheduler-admin', AdminConfig, 'ADMIN_TOKEN_PREVIOUS'],
      ['scheduler-metrics', MetricsConfig, 'METRICS_TOKEN'],
    ] as const,
  )('%s refuses a weak %s: 500 server_misconfigured, a config_error saying what is needed', async (name, schema, variable) => {
    for (const [kind, value] of Object.entries(weak)) {
      const c = compose(name, schema, { ...complete, [variable]: value });
      expect(c.built(), kind).toBe(false);
      expect((await c.handler(new Request('http://x/'))).status).toBe(500);
      expect(c.lines[0], kind).toMatchObject({ event: 'config_error', variable });
      expect(String(c.lines[0]!.message), kind).toContain('openssl rand -hex 32');
      expect(JSON.stringify(c.lines), kind).not.toContain(value);
    }
    // Random secrets of 32 characters or more are accepted: hex, base64url, with a label.
    for (
      const value of [
        randomBytes(16).toString('hex'),
        randomBytes(32).toString('base64url'),
        `cron-${randomBytes(16).toString('hex')}`,
      ]
    ) {
      expect(compose(name, schema, { ...complete, [variable]: value }).built()).toBe(true);
    }
  });

  it('a weak secret of the Vercel route closes it (500), saying what is needed', async () => {
    const strong = randomBytes(32).toString('hex');
    const env = {
      CRON_SECRET: strong,
      SCHEDULER_TICK_URL: 'http://127.0.0.1:9/functions/v1/scheduler-tick',
      ALLOW_INSECURE_URLS: '1',
      SCHEDULER_TICK_SECRET: strong,
    };
    for (const variable of ['CRON_SECRET', 'CRON_SECRET_PREVIOUS', 'SCHEDULER_TICK_SECRET']) {
      for (const [kind, value] of Object.entries(weak)) {
        const lines: string[] = [];
        const log = createLogger({ service: 't', write: (l) => lines.push(l) });
        const route = createTickRoute({ env: { ...env, [variable]: value }, log });
        const res = await route(new Request('http://v/api/scheduler/tick', { headers: { authorization: `Bearer ${value}` } }));
        expect(res.status, `${variable} ${kind}`).toBe(500);
        expect(lines.join('\n'), `${variable} ${kind}`).toMatch(new RegExp(`${variable}: .*openssl rand -hex 32`));
      }
    }
  });

  it.each(
    [
      ['scheduler-tick', TickConfig, 'TWILIO_API_BASE_URL'],
      ['scheduler-tick', TickConfig, 'PUBLIC_FUNCTIONS_URL'],
      ['scheduler-admin', AdminConfig, 'TWILIO_API_BASE_URL'],
      ['scheduler-admin', AdminConfig, 'PUBLIC_FUNCTIONS_URL'],
    ] as const,
  )('%s refuses an http:// %s unless ALLOW_INSECURE_URLS=1 (local development)', (name, schema, variable) => {
    const secure = {
      ...complete,
      ALLOW_INSECURE_URLS: undefined,
      PUBLIC_FUNCTIONS_URL: 'https://ref.supabase.co/functions/v1',
      TWILIO_API_BASE_URL: 'https://api.twilio.com',
    };
    expect(compose(name, schema, secure).built()).toBe(true);
    const insecure = compose(name, schema, { ...secure, [variable]: 'http://example.org/x' });
    expect(insecure.built()).toBe(false);
    expect(insecure.lines[0]).toMatchObject({ event: 'config_error', variable });
    expect(String(insecure.lines[0]!.message)).toMatch(/https:\/\/.*ALLOW_INSECURE_URLS=1/);
    expect(compose(name, schema, { ...secure, [variable]: 'http://example.org/x', ALLOW_INSECURE_URLS: '1' }).built()).toBe(true);
    // SUPABASE_URL, when it is where the public URL comes from.
    const derived = compose(name, schema, { ...secure, PUBLIC_FUNCTIONS_URL: undefined, SUPABASE_URL: 'http://kong:8000' });
    expect(derived.built()).toBe(false);
  });

  it('the Vercel route refuses an http:// SCHEDULER_TICK_URL unless ALLOW_INSECURE_URLS=1', async () => {
    const strong = randomBytes(32).toString('hex');
    const env = {
      CRON_SECRET: strong,
      SCHEDULER_TICK_URL: 'http://ref.supabase.co/functions/v1/scheduler-tick',
      SCHEDULER_TICK_SECRET: strong,
    };
    const lines: string[] = [];
    const route = createTickRoute({ env, log: createLogger({ service: 't', write: (l) => lines.push(l) }) });
    expect((await route(new Request('http://v/', { headers: { authorization: `Bearer ${strong}` } }))).status).toBe(500);
    expect(lines.join('\n')).toMatch(/SCHEDULER_TICK_URL: must be https:\/\//);
  });

  it("the logger redacts every secret value, each subaccount's auth token included", () => {
    const subToken = randomBytes(16).toString('hex');
    const lines: string[] = [];
    composeFunction({
      name: 'call-status',
      schema: CallStatusConfig,
      env: { ...complete, TWILIO_SUBACCOUNT_AUTH_TOKENS: JSON.stringify({ [`AC${'1'.repeat(32)}`]: subToken }) },
      build: (_config, log) => {
        log.error('provider_said', { message: `401 for token ${subToken} and ${complete.TWILIO_AUTH_TOKEN}` });
        return async () => new Response('ok');
      },
      write: (line) => lines.push(line),
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(subToken);
    expect(lines[0]).not.toContain(complete.TWILIO_AUTH_TOKEN);
    expect(lines[0]).toContain('[redacted]');
  });

  it('an invalid value is named too (a budget below its bound)', () => {
    const c = compose('scheduler-tick', TickConfig, { ...complete, TICK_BUDGET_MS: '10' });
    expect(c.lines[0]).toMatchObject({ event: 'config_error', variable: 'TICK_BUDGET_MS' });
  });
});
