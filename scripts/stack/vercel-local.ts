// A small stand-in for Vercel on one machine: serves public/ as static files (index.html at /) and
// maps /api/<path> to the web-standard handlers (`export function GET(req: Request)`, POST, ...) of
// api/<path>.ts, the way Vercel's Node runtime does (so /api/dashboard-config and
// /api/scheduler/tick run the very files Vercel deploys).
//
// Vercel functions read process.env when their module loads, so each local "deployment" runs in a
// child process with its own environment: startVercelLocal({env}) spawns this file, which prints
// one JSON line {"event":"vercel_listening","url":...} and stops when its stdin closes (the parent
// went away) or on SIGTERM / SIGINT.
//
//   node --import tsx scripts/stack/vercel-local.ts [--port N] [--host H]

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
export const REPO_ROOT = path.resolve(path.dirname(HERE), '..', '..');

/** Largest request body an /api function accepts (Vercel's own limit is 4.5 MB). */
export const MAX_API_BODY_BYTES = 1024 * 1024;

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
type Method = (typeof METHODS)[number];
type WebHandler = (req: Request) => Response | Promise<Response>;
type ApiModule = Partial<Record<Method, WebHandler>>;

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
  /** Directory served as static files. Default: public/. */
  publicDir?: string;
  /** Directory of the API functions. Default: api/. */
  apiDir?: string;
  /**
   * The deployment's environment (in the child: its own process.env). The API modules read
   * process.env themselves, as on Vercel; the server uses SUPABASE_FUNCTIONS_URL for the page's CSP.
   */
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

/** Security headers for the dashboard: no inline code, API calls only to us and the functions. */
function pageHeaders(env: Record<string, string | undefined>): Record<string, string> {
  let functionsOrigin = '';
  try {
    if (env.SUPABASE_FUNCTIONS_URL) functionsOrigin = ` ${new URL(env.SUPABASE_FUNCTIONS_URL).origin}`;
  } catch {
    // a malformed URL shows up in the dashboard's own error message
  }
  return {
    'content-security-policy':
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; ` +
      `connect-src 'self'${functionsOrigin}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}

/** Maps /api/a/b to api/a/b.ts (or api/a/b/index.ts); never to files or folders starting with _. */
function apiFile(apiDir: string, pathname: string): string | undefined {
  const rest = pathname.replace(/^\/api\/?/, '').replace(/\/+$/, '');
  if (!rest) return undefined;
  const segments = rest.split('/');
  if (segments.some((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) || s.includes('..'))) return undefined;
  for (const candidate of [path.join(apiDir, ...segments) + '.ts', path.join(apiDir, ...segments, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function toRequest(req: http.IncomingMessage, body: Buffer, origin: string): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const init: RequestInit = { method, headers };
  if (method !== 'GET' && method !== 'HEAD' && body.length > 0) init.body = new Uint8Array(body);
  return new Request(new URL(req.url ?? '/', origin), init);
}

async function sendResponse(res: http.ServerResponse, response: Response, head: boolean): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(response.status, headers);
  if (head || !response.body) {
    res.end();
    return;
  }
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
  res.end();
}

/** The request listener: static files and /api functions. */
export function createVercelLocalHandler(opts: VercelLocalServerOptions): http.RequestListener {
  const publicDir = path.resolve(opts.publicDir ?? path.join(REPO_ROOT, 'public'));
  const apiDir = path.resolve(opts.apiDir ?? path.join(REPO_ROOT, 'api'));
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const modules = new Map<string, Promise<ApiModule>>();

  const serveApi = async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => {
    const method = (req.method ?? 'GET').toUpperCase() as Method;
    const file = apiFile(apiDir, pathname);
    if (!file) return sendJson(res, 404, { error: 'not_found' });
    let mod = modules.get(file);
    if (!mod) {
      mod = import(pathToFileURL(file).href) as Promise<ApiModule>;
      modules.set(file, mod);
    }
    const handlers = await mod;
    const handler = handlers[method] ?? (method === 'HEAD' ? handlers.GET : undefined);
    if (typeof handler !== 'function') {
      const allow = METHODS.filter((m) => typeof handlers[m] === 'function').join(', ');
      return sendJson(res, 405, { error: 'method_not_allowed' }, { allow });
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_API_BODY_BYTES);
    } catch (err) {
      if (err instanceof PayloadTooLarge) {
        return sendJson(res, 413, { error: 'payload_too_large', message: `body larger than ${MAX_API_BODY_BYTES} bytes` });
      }
      throw err;
    }
    const host = req.headers.host ?? '127.0.0.1';
    const response = await handler(toRequest(req, body, `http://${host}`));
    await sendResponse(res, response, method === 'HEAD');
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
      ...(type.startsWith('text/html') ? pageHeaders(opts.env) : { 'x-content-type-options': 'nosniff' }),
    });
    res.end(req.method === 'HEAD' ? undefined : data);
  };

  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const work = pathname === '/api' || pathname.startsWith('/api/') ? serveApi(req, res, pathname) : serveStatic(req, res, pathname);
    work.catch((err: unknown) => {
      log(JSON.stringify({ ts: new Date().toISOString(), level: 'error', service: 'vercel-local', event: 'request_failed', path: pathname, error: err instanceof Error ? err.message : String(err) }));
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    });
  };
}

export interface VercelLocal {
  url: string;
  close(): Promise<void>;
}

/** Listens in this process (the child side); resolves once listening. */
export function listenVercelLocal(opts: VercelLocalServerOptions & { port?: number; host?: string }): Promise<VercelLocal> {
  const host = opts.host ?? '127.0.0.1';
  const server = http.createServer(createVercelLocalHandler(opts));
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
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
}

/**
 * Starts the local Vercel server in a child process with the given environment. Resolves with its
 * URL and a close() that stops it (SIGTERM, then SIGKILL after 5 s).
 */
export async function startVercelLocal(opts: StartVercelLocalOptions): Promise<VercelLocal & { pid: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const args = ['--import', 'tsx', HERE, '--port', String(opts.port ?? 0), '--host', opts.host ?? '127.0.0.1'];
  // Own process group: a Ctrl-C in the terminal reaches the parent, which stops us in order.
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const onLog = opts.onLog ?? (() => {});
  createInterface({ input: child.stderr! }).on('line', onLog);
  const stdout = createInterface({ input: child.stdout! });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the local Vercel server did not start within the timeout'));
    }, opts.timeoutMs ?? 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`the local Vercel server failed to start: ${why}`));
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

/** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
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
