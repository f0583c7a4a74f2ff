// A small stand-in for Vercel on one machine, serving what `vercel build` built (.vercel/output,
// scripts/stack/vercel-build.ts): static/ as static files (index.html at /), and each function of
// functions/**/*.func at its route (/api/scheduler/tick, /api/dashboard-config), run by Vercel's
// own Node.js launcher from a copy of its folder (scripts/stack/vercel-function.ts). So the local
// stack runs the very files Vercel deploys, as Vercel compiled them. The response headers are the
// build's own: config.json's header routes (vercel.json "headers": the dashboard's
// Content-Security-Policy, X-Frame-Options, ...), matched as Vercel matches them (src, has).
//
// Vercel functions read process.env when their module loads, so each local "deployment" runs in a
// child process with its own environment: startVercelLocal({env}) builds when the build is stale,
// then spawns this file, which prints one JSON line {"event":"vercel_listening","url":...} and
// stops when its stdin closes (the parent went away) or on SIGTERM / SIGINT.
//
//   node --import tsx scripts/stack/vercel-local.ts [--port N] [--host H]

import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { builtFunctions, ensureVercelBuild, VERCEL_OUTPUT_DIR } from './vercel-build.ts';
import { type RunningFunction, startBuiltFunction } from './vercel-function.ts';
import { stopChild } from './processes.ts';

const HERE = fileURLToPath(import.meta.url);
export const REPO_ROOT = path.resolve(path.dirname(HERE), '..', '..');

/** Largest request body an /api function accepts (Vercel's own limit is 4.5 MB). */
export const MAX_API_BODY_BYTES = 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export interface VercelLocalServerOptions {
  /** The Build Output API folder. Default: .vercel/output. */
  outputDir?: string;
  /** The deployment's environment (in the child: its own process.env): the functions get it, as on Vercel. */
  env: Record<string, string | undefined>;
  log?: (line: string) => void;
}

class PayloadTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new PayloadTooLarge());
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        reject(new PayloadTooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** A route of the build output's config.json (Build Output API v3), the parts used here. */
interface OutputRoute {
  src?: string;
  headers?: Record<string, string>;
  continue?: boolean;
  handle?: string;
  has?: Array<{ type: string; key?: string; value?: string }>;
  missing?: Array<{ type: string; key?: string; value?: string }>;
}

/** The header routes of config.json: those before the first `handle` phase (vercel.json "headers"). */
export function headerRoutes(outputDir: string): OutputRoute[] {
  const config = JSON.parse(readFileSync(path.join(outputDir, 'config.json'), 'utf8')) as { routes?: OutputRoute[] };
  const out: OutputRoute[] = [];
  for (const r of config.routes ?? []) {
    if (r.handle) break;
    if (r.headers && r.src) out.push(r);
  }
  return out;
}

function conditionHolds(c: { type: string; key?: string; value?: string }, req: http.IncomingMessage, url: URL): boolean {
  let actual: string | undefined;
  if (c.type === 'host') actual = (req.headers.host ?? '').replace(/:\d+$/, '');
  else if (c.type === 'header' && c.key) actual = req.headers[c.key.toLowerCase()] as string | undefined;
  else if (c.type === 'query' && c.key) actual = url.searchParams.get(c.key) ?? undefined;
  else return false;
  if (actual === undefined) return false;
  return c.value === undefined ? true : new RegExp(`^(?:${c.value})$`).test(actual);
}

/** The headers config.json's routes give this request (later routes override earlier ones). */
export function routeHeaders(routes: OutputRoute[], req: http.IncomingMessage, pathname: string): Record<string, string> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const out: Record<string, string> = {};
  for (const r of routes) {
    if (!new RegExp(r.src!).test(pathname)) continue;
    if (r.has && !r.has.every((c) => conditionHolds(c, req, url))) continue;
    if (r.missing && r.missing.some((c) => conditionHolds(c, req, url))) continue;
    for (const [k, v] of Object.entries(r.headers!)) out[k.toLowerCase()] = v;
    if (r.continue === false) break;
  }
  return out;
}

/**
 * The function serving a path: the filesystem phase of the build's routes (/api/a/b is
 * functions/api/a/b.func; /api/a/b.ts is rewritten to it, as config.json's "miss" route does).
 */
function functionFor(functions: Map<string, RunningFunction>, pathname: string): RunningFunction | undefined {
  let p = pathname.replace(/\/+$/, '');
  if (p.endsWith('.ts')) p = p.slice(0, -3);
  if (p.split('/').some((s) => s === '.' || s === '..')) return undefined;
  return functions.get(p);
}

/** Forwards the request to the function's launcher, the way Vercel's edge hands it over. */
function forward(fn: RunningFunction, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(req.url ?? '/', fn.url);
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(body.length);
    headers['x-forwarded-host'] = req.headers.host ?? '127.0.0.1';
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '127.0.0.1';
    headers['x-real-ip'] = req.socket.remoteAddress ?? '127.0.0.1';
    const upstream = http.request(target, { method: req.method ?? 'GET', headers }, (answer) => {
      // The function's own headers win over the routes' (set on res before this).
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => resolve());
      answer.on('error', reject);
    });
    upstream.on('error', reject);
    upstream.end(body);
  });
}

/** The request listener: static files and the functions (running, keyed by route). */
export function createVercelLocalHandler(
  opts: VercelLocalServerOptions & { functions: Map<string, RunningFunction> },
): http.RequestListener {
  const publicDir = path.resolve(opts.outputDir ?? VERCEL_OUTPUT_DIR, 'static');
  const routes = headerRoutes(path.resolve(opts.outputDir ?? VERCEL_OUTPUT_DIR));
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const serveApi = async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => {
    const fn = functionFor(opts.functions, pathname);
    if (!fn) return sendJson(res, 404, { error: 'not_found' });
    if (fn.exited()) return sendJson(res, 500, { error: 'function_invocation_failed' });
    let body: Buffer;
    try {
      body = await readBody(req, MAX_API_BODY_BYTES);
    } catch (err) {
      if (err instanceof PayloadTooLarge) {
        return sendJson(res, 413, { error: 'payload_too_large', message: `body larger than ${MAX_API_BODY_BYTES} bytes` });
      }
      throw err;
    }
    await forward(fn, req, body, res);
  };

  const serveStatic = async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
    }
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return sendJson(res, 400, { error: 'bad_request' });
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(publicDir, `.${path.posix.normalize(rel)}`);
    if (!file.startsWith(publicDir + path.sep) || rel.includes('\0') || path.basename(file).startsWith('.')) {
      return sendJson(res, 404, { error: 'not_found' });
    }
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return sendJson(res, 404, { error: 'not_found' });
    const data = await readFile(file);
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    res.writeHead(200, {
      'content-type': type,
      'content-length': data.length,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : data);
  };

  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    // The build's header routes (vercel.json "headers") on every answer, errors included, as on Vercel.
    for (const [k, v] of Object.entries(routeHeaders(routes, req, pathname))) res.setHeader(k, v);
    const work = pathname === '/api' || pathname.startsWith('/api/')
      ? serveApi(req, res, pathname)
      : serveStatic(req, res, pathname);
    work.catch((err: unknown) => {
      log(
        JSON.stringify({
          ts: new Date().toISOString(),
          level: 'error',
          service: 'vercel-local',
          event: 'request_failed',
          path: pathname,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    });
  };
}

export interface VercelLocal {
  url: string;
  close(): Promise<void>;
}

/**
 * Listens in this process (the child side): starts every function of the build output, then the
 * server; resolves once listening.
 */
export async function listenVercelLocal(opts: VercelLocalServerOptions & { port?: number; host?: string }): Promise<VercelLocal> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const built = builtFunctions(opts.outputDir ?? VERCEL_OUTPUT_DIR);
  if (built.length === 0) {
    throw new Error(
      `no functions in ${opts.outputDir ?? VERCEL_OUTPUT_DIR}: run vercel build (npx tsx scripts/stack/vercel-build.ts)`,
    );
  }
  const functions = new Map<string, RunningFunction>();
  const closeFunctions = () => Promise.all([...functions.values()].map((f) => f.close().catch(() => {})));
  try {
    const started = await Promise.allSettled(built.map((fn) => startBuiltFunction(fn, { env: opts.env, onLog: log })));
    for (const s of started) if (s.status === 'fulfilled') functions.set(s.value.route, s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await closeFunctions();
    throw err;
  }
  const server = http.createServer(createVercelLocalHandler({ ...opts, functions }));
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      void closeFunctions().then(() => reject(err));
    });
    server.listen(opts.port ?? 0, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        url: `http://${host}:${port}`,
        close: async () => {
          await new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          await closeFunctions();
        },
      });
    });
  });
}

export interface StartVercelLocalOptions {
  /** Environment overrides for the functions (on top of this process's environment). */
  env: Record<string, string | undefined>;
  port?: number;
  host?: string;
  /** Receives the server's own log lines (stderr). Default: dropped. */
  onLog?: (line: string) => void;
  /** How long to wait for the server to listen. Default 30 s. */
  timeoutMs?: number;
  /** Run `vercel build` first when .vercel/output is stale (default true). */
  build?: boolean;
  /** Progress of that build. Default: stderr with a [vercel] prefix. */
  onBuildLog?: (message: string) => void;
}

/**
 * Starts the local Vercel server in a child process with the given environment. Resolves with its
 * URL and a close() that stops it (SIGTERM, then SIGKILL after 5 s).
 */
export async function startVercelLocal(opts: StartVercelLocalOptions): Promise<VercelLocal & { pid: number }> {
  if (opts.build ?? true) await ensureVercelBuild(opts.onBuildLog ?? ((s) => process.stderr.write(`[vercel] ${s}\n`)));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const args = ['--import', 'tsx', HERE, '--port', String(opts.port ?? 0), '--host', opts.host ?? '127.0.0.1'];
  // Own process group: a Ctrl-C in the terminal reaches the parent, which stops us in order.
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  // The last lines it wrote, for the error when it fails to start.
  const tail: string[] = [];
  const onLog = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    opts.onLog?.(line);
  };
  createInterface({ input: child.stderr! }).on('line', onLog);
  const stdout = createInterface({ input: child.stdout! });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the local Vercel server did not start within the timeout'));
    }, opts.timeoutMs ?? 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      // Its last lines may still be in the pipes: give them a moment to arrive.
      setTimeout(() => {
        const said = tail.length > 0 ? `; its last output:\n  ${tail.join('\n  ')}` : '';
        reject(new Error(`the local Vercel server failed to start: ${why}${said}`));
      }, 100);
    };
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`exited with ${signal ?? code}`));
    stdout.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === 'vercel_listening' && msg.url) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve(msg.url);
          return;
        }
      } catch {
        // not our JSON line: a log line
      }
      onLog(line);
    });
  });
  return { url, pid: child.pid ?? 0, close: () => stopChild(child, 5_000) };
}

// ---------------------------------------------------------------------------------------------
// Child side

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const server = await listenVercelLocal({
    env: process.env,
    port: Number(arg('port') ?? 0),
    host: arg('host') ?? '127.0.0.1',
  });
  process.stdout.write(`${JSON.stringify({ event: 'vercel_listening', url: server.url })}\n`);
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    void server.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 3_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The parent holds our stdin: when it goes away (even killed), so do we.
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

if (process.argv[1] && path.resolve(process.argv[1]) === HERE) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
