// scheduler-admin's routing, over real HTTP against the real Deno gateway and database, read from
// the one table that says who may call what (ROUTES in scheduler-admin/handler.ts):
//   * every route refuses each role below its own with 403 {error: 'forbidden', role, needed_role}
//     before it reads anything, and every route answers a caller holding its role (never the
//     "no such route" 404);
//   * sign-in comes before routing: without a credential, an unknown path is 401 like a known one;
//   * a path or method not in the table: 404 {error: 'not_found'}; a trailing slash is ignored;
//     HEAD is answered as GET without a body, behind the same checks;
//   * the base path: the local gateway hands the function /functions/v1/scheduler-admin/...,
//     hosted Supabase /scheduler-admin/... (served here by the same index.ts behind a gateway that
//     strips /functions/v1 the way the platform does).
//
// The clock: nothing here depends on it (no route is asked about times).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../supabase/functions/scheduler-admin/handler.ts';
import { OPERATOR_ROLES, roleRank } from '../../supabase/functions/_shared/roles.ts';
import { resetData } from '../support/db.ts';
import { type Gateway, startGateway, useFunctionsStack } from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const stack = useFunctionsStack({ sim: { seed: 37, callbacks: false }, env: { AUTH_FAILURE_LIMIT: '1000' } });

function call(
  base: string,
  credential: string | null,
  method: string,
  route: string,
  body?: unknown,
): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  if (credential !== null) headers.authorization = `Bearer ${credential}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return request(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
}

/** A concrete path for a route pattern: ids nobody has, the first action of a choice, a listed-nowhere number. */
function samplePath(pattern: string): string {
  return pattern
    .replace(/:[A-Za-z]+\{([^|}]+)[^}]*\}/g, '$1')
    .replace(':phone', '%2B15550009999')
    .replace(/:[A-Za-z]+/g, '999999');
}

/** The router's own 404 (no such route): an answer with a message came from a route. */
const noSuchRoute = (r: HttpAnswer) => r.status === 404 && JSON.stringify(r.json) === '{"error":"not_found"}';

describe('scheduler-admin routes (ROUTES)', () => {
  const base = () => `${stack.gw.url}/scheduler-admin`;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    await resetData(stack.db);
    tokens.admin = stack.env.ADMIN_TOKEN!;
    for (const role of ['viewer', 'operator']) {
      const made = await call(base(), tokens.admin, 'POST', '/tokens', { name: `routes-${role}`, role });
      expect(made.status, JSON.stringify(made.json)).toBe(201);
      tokens[role] = (made.json as { token: string }).token;
    }
  });

  afterAll(async () => {
    await resetData(stack.db);
  });

  it('lists each method and path once, with a role', () => {
    const keys = ROUTES.map(([method, route]) => `${method} ${route}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const [, , role] of ROUTES) expect(OPERATOR_ROLES).toContain(role);
  });

  it("refuses every role below the route's own with 403, before reading anything", async () => {
    const before = await stack.db.query('select count(*)::int as n from public.operator_audit_log');
    let checked = 0;
    for (const [method, pattern, needed] of ROUTES) {
      for (const role of OPERATOR_ROLES.filter((r) => roleRank(r) < roleRank(needed))) {
        const r = await call(base(), tokens[role]!, method, samplePath(pattern), method === 'GET' ? undefined : {});
        expect(r.status, `${role} ${method} ${pattern}`).toBe(403);
        expect(r.json).toMatchObject({ error: 'forbidden', role, needed_role: needed });
        checked++;
      }
    }
    // viewer below operator and admin routes, operator below admin routes: some of each exist
    expect(checked).toBeGreaterThan(ROUTES.filter(([, , role]) => role !== 'viewer').length);
    const after = await stack.db.query('select count(*)::int as n from public.operator_audit_log');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it("lets a caller holding the route's role through to the route", async () => {
    for (const [method, pattern, needed] of ROUTES) {
      // DELETE /tokens/999999 and the rest touch nothing that exists; POST /trigger runs one (empty) tick
      const r = await call(base(), tokens[needed]!, method, samplePath(pattern));
      expect(r.status, `${needed} ${method} ${pattern}: ${JSON.stringify(r.json)}`).not.toBe(403);
      expect(noSuchRoute(r), `${needed} ${method} ${pattern}`).toBe(false);
    }
  });

  it('signs in before routing: no credential is 401 on any path, known or not', async () => {
    for (const route of ['/status', '/nope', '/campaigns/1/nope']) {
      const r = await call(base(), null, 'GET', route);
      expect(r.status, route).toBe(401);
      expect(r.json).toEqual({ error: 'unauthorized' });
    }
  });

  it('answers 404 {error: not_found} to a path or method not in the table; ignores a trailing slash', async () => {
    const admin = tokens.admin!;
    for (
      const [method, route] of [
        ['GET', '/nope'],
        ['GET', '/'],
        ['PUT', '/campaigns'],
        ['GET', '/trigger'],
        ['DELETE', '/campaigns/1'],
        ['GET', '/campaigns/1/pause'],
        ['POST', '/campaigns/1/archive'],
        ['GET', '/campaigns/1/contacts/2/more'],
      ] as const
    ) {
      const r = await call(base(), admin, method, route);
      expect(r.status, `${method} ${route}`).toBe(404);
      expect(r.json, `${method} ${route}`).toEqual({ error: 'not_found' });
    }
    // HEAD is GET without the body (Hono's answer to it), behind the same sign-in and role check
    expect((await call(base(), null, 'HEAD', '/status')).status).toBe(401);
    const head = await call(base(), tokens.viewer!, 'HEAD', '/status');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect((await call(base(), tokens.viewer!, 'HEAD', '/tokens')).status).toBe(403);
    const slash = await call(base(), admin, 'GET', '/whoami/');
    expect(slash.status).toBe(200);
    expect(slash.json).toMatchObject({ actor: 'admin_token', role: 'admin' });
  });
});

describe('scheduler-admin under the hosted base path (/scheduler-admin)', () => {
  let dir: string;
  let hosted: Gateway;

  beforeAll(async () => {
    // The hosted platform hands a function its path without /functions/v1: a function folder that
    // serves the real index.ts so, behind the same gateway.
    dir = mkdtempSync(path.join(os.tmpdir(), 'admin-hosted-'));
    mkdirSync(path.join(dir, 'scheduler-admin'));
    const real = path.join(ROOT, 'supabase', 'functions', 'scheduler-admin', 'index.ts');
    writeFileSync(
      path.join(dir, 'scheduler-admin', 'index.ts'),
      [
        'const serve = Deno.serve;',
        '// deno-lint-ignore no-explicit-any',
        '(Deno as any).serve = (handler: (req: Request, info: unknown) => Promise<Response>) =>',
        '  serve((req, info) => {',
        '    const url = new URL(req.url);',
        "    url.pathname = url.pathname.replace(/^\\/functions\\/v1/, '');",
        '    return handler(new Request(url, req), info);',
        '  });',
        `await import(${JSON.stringify(`file://${real}`)});`,
        '',
      ].join('\n'),
    );
    hosted = await startGateway(stack.env, { functionsDir: dir });
  });

  afterAll(async () => {
    await hosted?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the same routes, roles and 404s', async () => {
    const base = `${hosted.url}/scheduler-admin`;
    const admin = stack.env.ADMIN_TOKEN!;
    const who = await call(base, admin, 'GET', '/whoami');
    expect(who.status).toBe(200);
    expect(who.json).toMatchObject({ actor: 'admin_token', role: 'admin', kind: 'admin_token' });
    expect((await call(base, admin, 'GET', '/campaigns')).json).toEqual({ campaigns: [] });
    expect((await call(base, null, 'GET', '/campaigns')).status).toBe(401);
    const missing = await call(base, admin, 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'not_found' });
  });
});
