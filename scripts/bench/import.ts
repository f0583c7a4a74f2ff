// `npm run bench -- --only import`: a 100,000-row CSV import of contacts, as scheduler-admin's
// POST /campaigns/<id>/contacts runs it (importContactsCsv: streamed UTF-8 decoding, csv-parse,
// libphonenumber-js, batches into public.import_contacts() through the pooler), here in-process under
// Node. The CSV is generated as it is read (never held whole) with 1 % bad numbers and 1 %
// duplicates. Reports rows/s and the process's peak RSS and heap growth (sampled every 20 ms), and
// checks the import's outcome: complete, every good row in the campaign, every bad number and
// duplicate counted as such (the generator knows how many of each it wrote).

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { importContactsCsv, type ImportReport } from '../../supabase/functions/_shared/contacts-csv.ts';
import { importContactsBatch } from '../../supabase/functions/_shared/queries.ts';

export interface ImportRow {
  rows: number;
  batchSize: number;
  seconds: number;
  rowsPerSecond: number;
  imported: number;
  duplicates: number;
  errors: number;
  peakRssMb: number;
  heapGrowthMb: number;
  bytes: number;
}

/**
 * What generatedCsv(n) holds: row i (0-based) is a bad number when i % 100 == 50, and repeats row
 * i - 1's number when i % 100 == 99; every other row is a new valid number.
 */
export function expectedImport(n: number): { bad: number; duplicates: number; imported: number } {
  const countOf = (r: number) => Math.floor(n / 100) + (n % 100 > r ? 1 : 0);
  const bad = countOf(50);
  const duplicates = countOf(99);
  return { bad, duplicates, imported: n - bad - duplicates };
}

/** A CSV of n contacts, produced in pieces as the reader pulls. */
function generatedCsv(n: number): { stream: ReadableStream<Uint8Array>; bytes: () => number } {
  const encoder = new TextEncoder();
  let i = 0;
  let bytes = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === 0) {
        const head = encoder.encode('phone,name,time_zone,plan\n');
        bytes += head.length;
        controller.enqueue(head);
      }
      if (i >= n) {
        controller.close();
        return;
      }
      let text = '';
      for (let k = 0; k < 1000 && i < n; k++, i++) {
        const local = 2_000_000 + (i % 100 === 99 ? i - 1 : i); // every 100th repeats the one before
        const phone = i % 100 === 50
          ? '12345'
          : `(212) 5${String(local).padStart(7, '0').slice(1, 3)}-${String(local).slice(-4)}`;
        text += `${phone},"Contact ${i}",${i % 10 === 0 ? 'America/New_York' : ''},plan-${i % 3}\n`;
      }
      const chunk = encoder.encode(text);
      bytes += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { stream, bytes: () => bytes };
}

export async function benchImport(
  dbUrl: string,
  opts: {
    rows: number;
    batchSize: number;
    poolerUrl?: string;
    log: (s: string) => void;
    onInvariantFailure: (where: string, failures: string[]) => void;
  },
): Promise<ImportRow> {
  const pool = new pg.Pool({ connectionString: opts.poolerUrl ?? dbUrl, max: 4, application_name: 'bench-import' });
  try {
    await pool.query('truncate public.contacts, public.calls restart identity cascade');
    const { rows } = await pool.query<{ id: string }>(
      `select (public.admin_create_campaign('{"name": "bench import"}'::jsonb, 'bench', null))->>'id' as id`,
    );
    const id = rows[0]!.id;
    const csv = generatedCsv(opts.rows);
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    let report: ImportReport;
    try {
      report = await importContactsCsv(csv.stream, {
        region: 'US',
        batchSize: opts.batchSize,
        writeBatch: (batch) => importContactsBatch(pool, id, batch, new Date()),
        onBatch: (r) => {
          if (r.batches % 20 === 0) opts.log(`import: ${r.committed_through_line - 1} rows read, ${r.imported} imported`);
        },
      });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    const count = await pool.query<{ n: number; phones: number }>(
      'select count(*)::int as n, count(distinct phone)::int as phones from public.contacts where campaign_id = $1',
      [id],
    );
    const held = count.rows[0]!;
    const want = expectedImport(opts.rows);
    const failures: string[] = [];
    if (!report.complete) failures.push(`the import stopped: ${report.stopped?.reason}`);
    if (report.rows !== opts.rows) failures.push(`${report.rows} rows read of ${opts.rows}`);
    if (report.imported !== want.imported || held.n !== want.imported || held.phones !== want.imported) {
      failures.push(
        `${report.imported} reported imported and ${held.n} contacts (${held.phones} numbers) in the campaign, expected ${want.imported}`,
      );
    }
    if (report.duplicates !== want.duplicates) {
      failures.push(`${report.duplicates} duplicates reported, expected ${want.duplicates}`);
    }
    if (report.errors_total !== want.bad) failures.push(`${report.errors_total} rows refused, expected ${want.bad} bad numbers`);
    if (failures.length) opts.onInvariantFailure(`import of ${opts.rows} rows`, failures);
    return {
      rows: report.rows,
      batchSize: opts.batchSize,
      seconds: Math.round(seconds * 100) / 100,
      rowsPerSecond: Math.round(report.rows / seconds),
      imported: report.imported,
      duplicates: report.duplicates,
      errors: report.errors_total,
      peakRssMb: Math.round(peakRss / 1048576),
      heapGrowthMb: Math.round(heapGrowth / 1048576),
      bytes: csv.bytes(),
    };
  } finally {
    await pool.end();
  }
}

export function importTable(rows: ImportRow[]): string {
  const head = 'rows     batch  seconds  rows/s   imported  duplicates  errors  peak RSS  heap growth  CSV size';
  return [
    head,
    ...rows.map((r) =>
      `${String(r.rows).padEnd(8)} ${String(r.batchSize).padEnd(6)} ${String(r.seconds).padEnd(8)} ${
        String(r.rowsPerSecond).padEnd(8)
      } ` +
      `${String(r.imported).padEnd(9)} ${String(r.duplicates).padEnd(11)} ${String(r.errors).padEnd(7)} ${
        `${r.peakRssMb} MB`.padEnd(9)
      } ` +
      `${`${r.heapGrowthMb} MB`.padEnd(12)} ${(r.bytes / 1048576).toFixed(1)} MB`
    ),
  ].join('\n');
}
