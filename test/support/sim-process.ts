// The Twilio simulator in a process of its own, as Twilio would be: it must not share the event
// loop of the dispatcher (or of the test) whose requests it timestamps.

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SimProcess {
  child: ChildProcess;
  url: string;
  accountSid: string;
  authToken: string;
}

/** Starts scripts/twilio-sim/server.ts with `args` (e.g. --seed, --time-scale, --no-callbacks) once it listens. */
export function startSimProcess(args: string[]): Promise<SimProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/twilio-sim/server.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the simulator did not start')), 30_000);
    child.once('exit', (code) => reject(new Error(`the simulator exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { event?: string; url: string; accountSid: string; authToken: string };
        if (m.event === 'twilio_sim_listening') {
          clearTimeout(timer);
          resolve({ child, url: m.url, accountSid: m.accountSid, authToken: m.authToken });
        }
      } catch {
        // not the line we wait for
      }
    });
  });
}
