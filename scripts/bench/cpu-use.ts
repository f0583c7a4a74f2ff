// Where a measured stretch's CPU went, by process: time on a CPU from /proc/<pid>/schedstat (ns;
// Linux), which waiting for a core does not inflate, so the split holds on a busy machine where
// wall-clock figures do not. Processes are grouped by role (this process, the simulator, the
// measured cluster, its PgBouncer); everything else on the machine is "other". A process that
// exits inside the stretch is not counted (the bench keeps its pools open until after the second
// snapshot).

import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = Map<number, { role: string; ns: number }>;

function readProc(pid: number): { comm: string; ppid: number; ns: number } | undefined {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    return Number.isFinite(ns) ? { comm, ppid, ns } : undefined;
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/**
 * Every process's CPU time so far, with its role: `roles` names pids (this process, the
 * simulator); "postgres" is the measured cluster (its postmaster, `postmasterPid`, and its
 * children), "pgbouncer" a PgBouncer this process started (a descendant of it). Other clusters and
 * poolers on the machine (another suite's) are "other".
 */
export function cpuSnapshot(roles: ReadonlyMap<number, string>, postmasterPid: number | null): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out; // not Linux: no split
  }
  const procs = new Map<number, { comm: string; ppid: number; ns: number }>();
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    const p = readProc(pid);
    if (p) procs.set(pid, p);
  }
  const descendsFromUs = (pid: number): boolean => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; hops++) {
      if (at === process.pid) return true;
      at = procs.get(at)?.ppid ?? 0;
    }
    return false;
  };
  for (const [pid, p] of procs) {
    let role = roles.get(pid);
    if (role === undefined) {
      if (p.comm === 'postgres' && postmasterPid !== null && (pid === postmasterPid || p.ppid === postmasterPid)) {
        role = 'postgres';
      } else if (p.comm === 'pgbouncer' && descendsFromUs(pid)) role = 'pgbouncer';
      else role = 'other';
    }
    out.set(pid, { role, ns: p.ns });
  }
  return out;
}

/** The postmaster of the cluster `client` is connected to (its backend's parent), or null. */
export function postmasterOf(backendPid: number): number | null {
  return readProc(backendPid)?.ppid ?? null;
}

/** CPU ms per role between two snapshots (a process new in `after` counts from zero). */
export function cpuSince(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const byRole: Record<string, number> = {};
  for (const [pid, a] of after) {
    const d = a.ns - (before.get(pid)?.ns ?? 0);
    if (d > 0) byRole[a.role] = (byRole[a.role] ?? 0) + d / 1e6;
  }
  return byRole;
}

/** The same split per 1,000 calls. */
export function perKilo(byRole: Record<string, number>, calls: number): Record<string, number> {
  return Object.fromEntries(Object.entries(byRole).map(([role, ms]) => [role, (ms * 1000) / Math.max(1, calls)]));
}

/** Each role's median over runs (a role missing from a run counts 0 there). */
export function medianByRole(runs: Record<string, number>[]): Record<string, number> {
  const roles = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const role of roles) {
    const xs = runs.map((r) => r[role] ?? 0).sort((a, b) => a - b);
    const mid = xs.length >> 1;
    out[role] = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  }
  return out;
}

/** The roles that do the work, in a fixed order ("other" is the rest of the machine, not this run's). */
export const CPU_ROLES = ['dispatcher', 'postgres', 'pgbouncer', 'simulator'] as const;

/** This run's CPU, "dispatcher 420 + postgres 399 + pgbouncer 10 + simulator 173 = 1,002 ms". */
export function formatCpuPerKilo(perKiloByRole: Record<string, number>): string {
  const parts = CPU_ROLES.map((role) => Math.round(perKiloByRole[role] ?? 0));
  const total = parts.reduce((a, b) => a + b, 0);
  return CPU_ROLES.map((role, i) => `${role} ${parts[i]}`).join(' + ') + ` = ${total.toLocaleString('en-US')} ms` +
    ` (other processes on the machine: ${Math.round(perKiloByRole.other ?? 0)} ms)`;
}

/** The work's CPU per 1,000 calls, every role but "other". */
export function workCpu(perKiloByRole: Record<string, number>): number {
  return CPU_ROLES.reduce((sum, role) => sum + (perKiloByRole[role] ?? 0), 0);
}
