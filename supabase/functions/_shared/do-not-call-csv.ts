// The do-not-call list from CSV (scheduler-admin POST /do-not-call/import, npm run campaign -- dnc
// import, the dashboard). Columns: phone (or phone_number, number) and an optional reason, with a
// header line; a file whose first cell is already a number is read as phone,reason without one.
// Each number must be E.164 (an exported cell's leading ' is dropped, see csv-export.ts); a row
// that is not is reported with its line number and skipped, the valid rows are kept. A file that
// cannot be read as CSV (an unclosed quote...) is refused whole, naming the line, nothing written.

import { parse } from 'csv-parse';
import { isE164 } from './phone.ts';

export interface DoNotCallCsvRow {
  line: number;
  phone: string;
  reason: string | null;
}

export interface DoNotCallCsv {
  rows: DoNotCallCsvRow[];
  /** Data rows seen (header and empty lines excluded). */
  seen: number;
  errors: Array<{ line: number; reason: string }>;
}

export class DoNotCallCsvError extends Error {
  constructor(readonly line: number | null, message: string) {
    super(message);
    this.name = 'DoNotCallCsvError';
  }
}

const PHONE_NAMES = ['phone', 'phone_number', 'number'];

/** The E.164 form of a cell, or why it is refused. */
export function doNotCallPhone(cell: string): { phone: string } | { reason: string } {
  const raw = cell.trim().replace(/^'/, '').replace(/[\s().-]/g, '');
  if (raw === '') return { reason: 'no phone number' };
  return isE164(raw)
    ? { phone: raw }
    : { reason: `not an E.164 number (+ then 7 to 15 digits): ${JSON.stringify(cell.slice(0, 40))}` };
}

export async function parseDoNotCallCsv(text: string): Promise<DoNotCallCsv> {
  const records = await new Promise<Array<{ record: string[]; info: { lines: number } }>>((resolve, reject) => {
    parse(
      text,
      { bom: true, info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, trim: true },
      (err: Error | undefined, out: unknown) => {
        if (err) {
          const line = (err as { lines?: unknown }).lines;
          reject(new DoNotCallCsvError(typeof line === 'number' ? line : null, `not readable as CSV: ${err.message}`));
        } else resolve(out as Array<{ record: string[]; info: { lines: number } }>);
      },
    );
  });
  const out: DoNotCallCsv = { rows: [], seen: 0, errors: [] };
  if (records.length === 0) return out;
  const first = records[0]!.record.map((c) => c.toLowerCase());
  const headerless = /^'?\s*\+?[0-9]/.test(records[0]!.record[0] ?? '');
  let phoneAt = 0;
  let reasonAt = 1;
  if (!headerless) {
    phoneAt = first.findIndex((c) => PHONE_NAMES.includes(c));
    if (phoneAt < 0) throw new DoNotCallCsvError(1, 'no phone column: the header line must name one (phone, reason)');
    reasonAt = first.indexOf('reason');
  }
  for (const { record, info } of headerless ? records : records.slice(1)) {
    out.seen++;
    const phone = doNotCallPhone(record[phoneAt] ?? '');
    if ('reason' in phone) {
      out.errors.push({ line: info.lines, reason: phone.reason });
      continue;
    }
    const reason = reasonAt >= 0 ? (record[reasonAt] ?? '').trim() : '';
    if (reason.length > 500) {
      out.errors.push({ line: info.lines, reason: 'the reason is longer than 500 characters' });
      continue;
    }
    out.rows.push({ line: info.lines, phone: phone.phone, reason: reason === '' ? null : reason });
  }
  return out;
}
