// The Twilio simulator (server.ts) in a process of its own, as Twilio would be: it must not share
// the event loop of the dispatcher (or of the test) whose requests it timestamps. Used by the
// benchmark's dispatch part and by the property and load tests; driven through its control API
// (/__sim/...).

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killOnExit, stopChild } from '../stack/processes.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SimProcess {
  child: ChildProcess;
  url: string;
  accountSid: string;
  authToken: string;
}

/**
 * Starts scripts/twilio-sim/server.ts with `args` (e.g. --seed, --time-scale, --no-callbacks) and
 * resolves once it listens (its `twilio_sim_listening` line). Rejects, with what it wrote to stderr,
 * when it exits first or does not listen within 30 s.
 */
export function startSimProcess(args: string[]): Promise<SimProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('scripts', 'twilio-sim', 'server.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // It dies with this process (an interrupted bench or test run leaves no simulator behind).
  killOnExit(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    // Enough to say why it did not start; a long run's log is not kept.
    if (stderr.length < 64_000) stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      lines.close();
      if (child.exitCode === null) child.kill('SIGKILL');
      reject(new Error(`${message}${stderr ? `: ${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail('the simulator did not start within 30 s'), 30_000);
    const exitedEarly = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`the simulator exited (${signal ?? code}) before it listened`);
    const notStarted = (err: Error) => fail(`the simulator could not be started: ${err.message}`);
    child.once('exit', exitedEarly);
    child.once('error', notStarted);
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { event?: string; url: string; accountSid: string; authToken: string };
        if (m.event === 'twilio_sim_listening') {
          clearTimeout(timer);
          child.off('exit', exitedEarly);
          child.off('error', notStarted);
          resolve({ child, url: m.url, accountSid: m.accountSid, authToken: m.authToken });
        }
      } catch {
        // not the line we wait for
      }
    });
  });
}

/** Stops it: SIGTERM (it closes its server), SIGKILL if it has not exited 5 s later. Never throws. */
export async function stopSimProcess(sim: SimProcess | undefined): Promise<void> {
  if (sim) await stopChild(sim.child, 5000);
}
