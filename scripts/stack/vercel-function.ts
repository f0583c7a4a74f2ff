// Runs one function of the Vercel build output (.vercel/output/functions/<route>.func) the way
// Vercel runs it: only the function's own folder (copied out of the repository, so nothing
// resolves through the project's node_modules by accident), its .vc-config.json handler loaded by
// Vercel's own Node.js launcher, the serverless handler of @vercel/node (the code `vercel dev` runs
// functions with, from the pinned CLI in tools/vercel): it imports the module, turns exported
// GET/POST/... web handlers into a Node request listener, and answers 405 for a method the module
// does not export. The launcher listens on a loopback port; startBuiltFunction() resolves with it.

import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type BuiltFunction, VERCEL_TOOL_DIR } from './vercel-build.ts';
import { stopChild } from './processes.ts';

/** @vercel/node's launcher (the serverless handler `vercel dev` runs functions in). */
export const VERCEL_NODE_LAUNCHER = path.join(VERCEL_TOOL_DIR, 'node_modules', '@vercel', 'node', 'dist', 'dev-server.mjs');

/** The launcher goes away with its parent (even a killed one): the IPC channel closes. */
const EXIT_WITH_PARENT = 'data:text/javascript,process.on("disconnect",()=>process.exit(0))';

export interface RunningFunction {
  route: string;
  /** http://127.0.0.1:PORT: send the request with its original path. */
  url: string;
  pid: number;
  /** The function's own folder as it runs (a copy of the .func folder). */
  dir: string;
  /** True once the launcher exited. */
  exited(): boolean;
  close(): Promise<void>;
}

export interface StartBuiltFunctionOptions {
  /** The function's environment (Vercel: the project's variables). */
  env: Record<string, string | undefined>;
  /** The launcher's output lines (the function's own logs). */
  onLog?: (line: string) => void;
  timeoutMs?: number;
}

export async function startBuiltFunction(fn: BuiltFunction, opts: StartBuiltFunctionOptions): Promise<RunningFunction> {
  if (fn.config.launcherType !== 'Nodejs' || !String(fn.config.runtime).startsWith('nodejs')) {
    throw new Error(
      `${fn.route}: runtime ${fn.config.runtime} (${fn.config.launcherType ?? 'no launcher'}) is not a Node.js function`,
    );
  }
  if (!existsSync(VERCEL_NODE_LAUNCHER)) {
    throw new Error(`the Vercel CLI is not installed in tools/vercel (npm ci --prefix tools/vercel)`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vercel-fn-'));
  await cp(fn.dir, dir, { recursive: true, verbatimSymlinks: true });

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    VERCEL: '1',
    VERCEL_ENV: env.VERCEL_ENV ?? 'development',
    VERCEL_DEV_ENTRYPOINT: fn.config.handler,
    VERCEL_DEV_CONFIG: JSON.stringify({ helpers: fn.config.shouldAddHelpers !== false }),
    VERCEL_DEV_BUILD_ENV: '{}',
  });
  const child = spawn(process.execPath, ['--import', EXIT_WITH_PARENT, VERCEL_NODE_LAUNCHER], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const onLog = opts.onLog ?? (() => {});
  const early: string[] = [];
  let listening = false;
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (!listening) early.push(line);
      onLog(line);
    });
  }

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${fn.route}: the Vercel launcher did not start`)),
        opts.timeoutMs ?? 30_000,
      );
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${fn.route}: the Vercel launcher exited with ${signal ?? code}:\n${early.join('\n')}`));
      });
      child.once('message', (msg: unknown) => {
        clearTimeout(timer);
        const port = (msg as { port?: unknown } | null)?.port;
        if (typeof port === 'number') resolve(port);
        else reject(new Error(`${fn.route}: unexpected message from the launcher: ${JSON.stringify(msg)}`));
      });
    });
    // The launcher logs a module that fails to load and listens anyway (its first request then
    // exits it): a load error is a start-up failure here.
    await new Promise((r) => setTimeout(r, 50));
    const loadError = early.find((l) => /\b(Error|ERR_[A-Z_]+)\b/.test(l));
    if (loadError) throw new Error(`${fn.route}: the function failed to load:\n${early.join('\n')}`);
    listening = true;
    child.removeAllListeners('exit');
    return {
      route: fn.route,
      url: `http://127.0.0.1:${port}`,
      pid: child.pid ?? 0,
      dir,
      exited: () => child.exitCode !== null || child.signalCode !== null,
      close: async () => {
        await stopChild(child, 5_000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopChild(child, 1_000);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
