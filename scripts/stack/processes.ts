// Ports and child processes, shared by the parts of the local stack (cluster, PgBouncer, the
// functions gateway, the Vercel route, the Twilio simulator) and by the tests' support code: a
// free port, whether a database answers, children killed when this process exits, and a child
// stopped gracefully. The one place for each of these.

import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';

/**
 * Where freePort() looks: below Linux's default range of ephemeral ports (32768-60999), which the
 * OS hands out to every outgoing connection. A port picked from that range is free when picked
 * but may be taken by a client's connection before our server binds it (the load test opens tens
 * of thousands): a local Vercel server whose port was picked before the gateway started once failed
 * with EADDRINUSE that way.
 */
const FREE_PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/** A port free right now, for a server whose URL must be known before it starts (see FREE_PORT_RANGE). */
export async function freePort(): Promise<number> {
  const span = FREE_PORT_RANGE.to - FREE_PORT_RANGE.from;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FREE_PORT_RANGE.from + Math.floor(Math.random() * span);
    if (await portIsFree(port)) return port;
  }
  return osPickedPort();
}

/** A port the OS picks (from its ephemeral range). */
function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on 127.0.0.1:port right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Runs fn with a client connected to url and ends the client after (an error the idle client
 * emits, e.g. when the server goes away, is dropped: fn's own queries still throw).
 */
export async function withPgClient<T>(
  url: string,
  fn: (c: pg.Client) => Promise<T>,
  opts: { applicationName?: string } = {},
): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    ...(opts.applicationName ? { application_name: opts.applicationName } : {}),
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** True when the database at url accepts a connection and answers `select 1` within 2 s. */
export async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

// Cleanups that must run however this process ends: a normal exit, or SIGINT / SIGTERM / SIGHUP
// (after which, unless someone else handles the signal, it dies of it as it would have).
const exitCleanups = new Set<() => void>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  const runAll = () => {
    for (const cleanup of [...exitCleanups]) cleanup();
  };
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      runAll();
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/**
 * Runs `cleanup` (synchronous: nothing async runs at exit) when this process exits or is stopped
 * by a signal. Returns the function that unregisters it.
 */
export function onExit(cleanup: () => void): () => void {
  installExitHandlers();
  exitCleanups.add(cleanup);
  return () => void exitCleanups.delete(cleanup);
}

/** Kills `child` (SIGKILL) if it is still running when this process ends. */
export function killOnExit(child: ChildProcess): void {
  const off = onExit(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  });
  child.once('exit', off);
}

/**
 * Sends `signal` (SIGTERM unless told), then SIGKILL after graceMs; resolves when the process has
 * exited (at once when it already had).
 */
export function stopChild(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Runs a command to its end with stdin closed; resolves with its exit code (128 when a signal
 * ended it) and its stdout and stderr as one text. Rejects when it cannot be started.
 */
export function runCaptured(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}
