// Starts the real Edge Functions for a test: the Deno gateway (scripts/stack/functions-serve.ts) as a
// child process, on a free loopback port, with the environment a test chooses. The gateway runs each
// function's own index.ts in its own worker, as Supabase does. Its JSON log lines are captured so
// tests can look for events and for leaked secrets.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Gateway {
  url: string; // http://127.0.0.1:PORT/functions/v1
  logs: string[];
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Parsed JSON log lines with the given event name. */
  events(event: string): Array<Record<string, unknown>>;
}

export interface GatewayOptions {
  /** Serve the functions of this folder instead of supabase/functions (scratch functions in a test). */
  functionsDir?: string;
}

export async function startGateway(env: Record<string, string | undefined>, opts: GatewayOptions = {}): Promise<Gateway> {
  const deno = path.join(ROOT, 'node_modules', '.bin', 'deno');
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DENO_DIR: process.env.DENO_DIR,
    // Deno fetches the npm: imports on first use; behind a TLS-inspecting proxy its bundled roots
    // are not enough, so it also trusts the system store (SSL_CERT_FILE/DIR where set).
    DENO_TLS_CA_STORE: process.env.DENO_TLS_CA_STORE ?? 'mozilla,system',
    SSL_CERT_FILE: process.env.SSL_CERT_FILE,
    SSL_CERT_DIR: process.env.SSL_CERT_DIR,
    HTTPS_PROXY: process.env.HTTPS_PROXY,
    NO_COLOR: '1',
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const child = spawn(
    deno,
    [
      'run',
      '-A',
      '--quiet',
      '--config',
      'supabase/functions/deno.json',
      'scripts/stack/functions-serve.ts',
      '--port',
      '0',
      ...(opts.functionsDir ? ['--functions-dir', opts.functionsDir] : []),
    ],
    { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  let buffer = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${logs.join('\n')}`)), 60_000);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        logs.push(line);
        if (line.includes('"functions_listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line).url as string);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    url,
    logs,
    child,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
    events: (event: string) =>
      logs
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .filter((o) => o.event === event),
  };
}
