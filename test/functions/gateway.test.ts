// The local gateway (scripts/stack/functions-serve.ts) as Supabase's edge runtime behaves: each
// function's own index.ts, unmodified, in its own isolate (a worker), under /functions/v1/<name>;
// Deno.serve works as written (with or without options); EdgeRuntime.waitUntil keeps work alive
// after the response, also through a shutdown; a function that fails to boot fails alone.
// Scratch functions in a temporary folder, served by the real gateway over loopback.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../support/functions.ts';

const FUNCTIONS: Record<string, string> = {
  alpha: `
    (globalThis as any).alphaWasHere = true;
    Deno.serve(async (req) => {
      const url = new URL(req.url);
      if (url.pathname.endsWith('/later')) {
        EdgeRuntime.waitUntil(
          new Promise((r) => setTimeout(r, 400)).then(() => console.log(JSON.stringify({ event: 'after_response', id: url.searchParams.get('id') }))),
        );
        return new Response('sent');
      }
      return Response.json({
        fn: 'alpha',
        path: url.pathname,
        search: url.search,
        method: req.method,
        body: await req.text(),
        type: req.headers.get('content-type'),
        sawBeta: (globalThis as any).betaWasHere ?? false,
        edgeRuntime: typeof EdgeRuntime,
        scratch: Deno.env.get('SCRATCH_VALUE') ?? null,
        publicUrl: Deno.env.get('PUBLIC_FUNCTIONS_URL') ?? null,
      });
    });
  `,
  beta: `
    (globalThis as any).betaWasHere = true;
    Deno.serve({ port: 9, hostname: '0.0.0.0' }, () => Response.json({ fn: 'beta', sawAlpha: (globalThis as any).alphaWasHere ?? false }, { status: 201 }));
  `,
  broken: `throw new Error('boot failure on purpose');`,
  _shared: `export const notAFunction = true;`,
};

let dir: string;
let gw: Gateway;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fn-gateway-'));
  for (const [name, source] of Object.entries(FUNCTIONS)) {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'index.ts'), source);
  }
  gw = await startGateway({ SCRATCH_VALUE: 'from-the-env' }, { functionsDir: dir });
});

afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the functions gateway', () => {
  it('lists the functions it serves (folders with an index.ts, not _shared)', () => {
    const listening = gw.events('functions_listening');
    expect(listening).toHaveLength(1);
    expect(listening[0]!.functions).toEqual(['alpha', 'beta', 'broken']);
    expect(listening[0]!.url).toBe(gw.url);
  });

  it('passes method, path, query, headers and body through to the function', async () => {
    const res = await fetch(`${gw.url}/alpha/sub/path?x=1&y=two`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=2',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      fn: 'alpha',
      path: '/functions/v1/alpha/sub/path',
      search: '?x=1&y=two',
      method: 'POST',
      body: 'a=1&b=2',
      type: 'application/x-www-form-urlencoded',
      sawBeta: false,
      edgeRuntime: 'object',
      scratch: 'from-the-env',
      publicUrl: gw.url,
    });
  });

  it('runs each function in its own isolate: no globals shared, Deno.serve options honoured as Supabase does (its own port ignored)', async () => {
    const res = await fetch(`${gw.url}/beta`);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ fn: 'beta', sawAlpha: false });
  });

  it('a function that fails to boot answers 503 alone, and the log says why', async () => {
    const res = await fetch(`${gw.url}/broken`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'function_unavailable', function: 'broken' });
    const boot = gw.events('function_boot_error');
    expect(boot).toHaveLength(1);
    expect(boot[0]).toMatchObject({ function: 'broken' });
    expect(String(boot[0]!.error)).toContain('boot failure on purpose');
    expect((await fetch(`${gw.url}/alpha`)).status).toBe(200);
  });

  it('answers 404 for unknown functions and other paths', async () => {
    for (const p of ['/functions/v1/nope', '/functions/v1/_shared', '/elsewhere']) {
      const res = await fetch(new URL(p, gw.url).toString());
      expect(res.status, p).toBe(404);
    }
  });

  it('EdgeRuntime.waitUntil keeps work alive after the response', async () => {
    const res = await fetch(`${gw.url}/alpha/later?id=one`);
    expect(await res.text()).toBe('sent');
    expect(gw.events('after_response')).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (gw.events('after_response').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(gw.events('after_response').map((e) => e.id)).toEqual(['one']);
  });

  it('a shutdown waits for EdgeRuntime.waitUntil work before the process exits', async () => {
    const second = await startGateway({}, { functionsDir: dir });
    const res = await fetch(`${second.url}/alpha/later?id=two`);
    expect(await res.text()).toBe('sent');
    await second.stop('SIGTERM');
    expect(second.events('after_response').map((e) => e.id)).toEqual(['two']);
    expect(second.child.exitCode).toBe(0);
  });
});
