// `npm run bench -- --only import`: a 100,000-row CSV import of contacts, as scheduler-admin's
// POST /campaigns/<id>/contacts runs it (importContactsCsv: streamed UTF-8 decoding, csv-parse,
// libphonenumber-js, batches into public.import_contacts() through the pooler), here in-process under
// Node. The CSV is generated as it is read (never held whole) with 1 % bad numbers and 1 %
// duplicates. Reports rows/s and the process's peak RSS and heap growth (sampled every 20 ms).

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
  opts: { rows: number; batchSize: number; poolerUrl?: string; log: (s: string) => void },
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
    const count = await pool.query<{ n: number }>('select count(*)::int as n from public.contacts where campaign_id = $1', [id]);
    if (count.rows[0]!.n !== report.imported) {
      throw new Error(`imported ${report.imported} but the campaign holds ${count.rows[0]!.n}`);
    }
    if (!report.complete) throw new Error(`the import stopped: ${report.stopped?.reason}`);
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
