// `npm run bench` reporting: summary statistics, the printed table, the machine header, and the
// SVG chart of tick latency against campaigns (hand-written SVG: no chart dependency).

import os from 'node:os';
import type pg from 'pg';

export interface Summary {
  runs: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { runs: 0, median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { runs: sorted.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** Milliseconds with 3 significant digits (0.812, 12.3, 245, 3,410). */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 1000) return fmtInt(ms);
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(2)}x`;
}

export function fmtSummary(s: Summary | undefined): string {
  if (!s || s.runs === 0) return '-';
  return `${fmtMs(s.median)} (${fmtMs(s.min)}..${fmtMs(s.max)})`;
}

/** Renders rows as an aligned plain-text table; numeric-looking cells are right-aligned. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string) => /^[\d.,x()\-–%/ ]+$/.test(s) && /\d/.test(s);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), sep, ...rows.map(line)].join('\n');
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  os: string;
  node: string;
  loadAverageAtStart: number[];
  postgres: string;
  settings: Record<string, string>;
  database: 'throwaway cluster' | 'DATABASE_URL';
}

export const REPORTED_SETTINGS = [
  'shared_buffers',
  'work_mem',
  'synchronous_commit',
  'fsync',
  'full_page_writes',
  'wal_level',
  'max_wal_size',
  'jit',
  'random_page_cost',
  'effective_cache_size',
  'autovacuum',
] as const;

export async function machineInfo(client: pg.Client, external: boolean): Promise<MachineInfo> {
  const version = await client.query<{ v: string }>('select version() as v');
  const settings = await client.query<{ name: string; setting: string }>(
    `select name, current_setting(name) as setting from pg_settings where name = any($1::text[])`,
    [REPORTED_SETTINGS as unknown as string[]],
  );
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    postgres: (version.rows[0]?.v ?? '').split(' on ')[0] ?? '',
    settings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
    database: external ? 'DATABASE_URL' : 'throwaway cluster',
  };
}

export function machineHeader(m: MachineInfo): string {
  const s = m.settings;
  return [
    `machine:  ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB RAM, ${m.os}, Node ${m.node}`,
    `load:     ${m.loadAverageAtStart.join(' / ')} (1/5/15 min load average at start; other processes share these cores)`,
    `database: ${m.postgres} (${m.database})`,
    `settings: shared_buffers=${s.shared_buffers} work_mem=${s.work_mem} synchronous_commit=${s.synchronous_commit} ` +
    `fsync=${s.fsync} full_page_writes=${s.full_page_writes} jit=${s.jit} random_page_cost=${s.random_page_cost} ` +
    `effective_cache_size=${s.effective_cache_size} max_wal_size=${s.max_wal_size} autovacuum=${s.autovacuum}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG chart: tick latency (ms, log scale) against campaigns (log scale), one line per series.

export interface ChartSeries {
  name: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number; label?: string }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

export function latencyChartSvg(opts: { title: string; subtitle: string; series: ChartSeries[] }): string {
  const W = 720;
  const H = 420;
  const m = { left: 70, right: 190, top: 56, bottom: 54 };
  const pts = opts.series.flatMap((s) => s.points).filter((p) => p.y > 0 && p.x > 0);
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const xTicks = decades(Math.min(...xs, 100), Math.max(...xs, 10_000));
  const yTicks = decades(Math.min(...ys, 1), Math.max(...ys, 1000));
  const [x0, x1] = [Math.log10(xTicks[0]!), Math.log10(xTicks[xTicks.length - 1]!)];
  const [y0, y1] = [Math.log10(yTicks[0]!), Math.log10(yTicks[yTicks.length - 1]!)];
  const px = (x: number) => m.left + ((Math.log10(x) - x0) / (x1 - x0 || 1)) * (W - m.left - m.right);
  const py = (y: number) => H - m.bottom - ((Math.log10(y) - y0) / (y1 - y0 || 1)) * (H - m.top - m.bottom);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="24" font-size="15" font-weight="600" fill="#111">${esc(opts.title)}</text>`,
    `<text x="${m.left}" y="42" fill="#555">${esc(opts.subtitle)}</text>`,
  );
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    out.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${
        esc(t >= 1000 ? `${t / 1000} s` : `${t} ms`)
      }</text>`,
    );
  }
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    out.push(
      `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${H - m.bottom}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${H - m.bottom + 18}" text-anchor="middle" fill="#444">${esc(fmtInt(t))}</text>`,
    );
  }
  out.push(
    `<text x="${(m.left + W - m.right) / 2}" y="${H - 12}" text-anchor="middle" fill="#222">campaigns (log scale)</text>`,
    `<text x="18" y="${(m.top + H - m.bottom) / 2}" text-anchor="middle" fill="#222" transform="rotate(-90 18 ${
      (m.top + H - m.bottom) / 2
    })">tick latency, median (log scale)</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${
      H - m.top - m.bottom
    }" fill="none" stroke="#999"/>`,
  );
  opts.series.forEach((s, i) => {
    const p = s.points.filter((q) => q.y > 0 && q.x > 0).sort((a, b) => a.x - b.x);
    if (p.length === 0) return;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${
        p.map((q) => `${px(q.x).toFixed(1)},${py(q.y).toFixed(1)}`).join(' ')
      }"/>`,
    );
    for (const q of p) {
      out.push(
        `<circle cx="${px(q.x).toFixed(1)}" cy="${py(q.y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${
          esc(`${s.name}: ${fmtMs(q.y)} ms at ${fmtInt(q.x)} campaigns${q.label ? ` (${q.label})` : ''}`)
        }</title></circle>`,
      );
    }
    const ly = m.top + 10 + i * 22;
    const lx = W - m.right + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 32}" y="${ly}" dominant-baseline="middle" fill="#222">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
