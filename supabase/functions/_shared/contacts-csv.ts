// Contacts from CSV, streamed: the body is decoded as UTF-8 piece by piece (fatal on anything
// else), parsed by csv-parse, each number normalised to E.164 by libphonenumber-js (with a default
// region for national numbers), and the good rows handed to `writeBatch` every `batchSize` rows
// (public.import_contacts: one statement per batch). The file is never held whole: memory is one
// batch plus the parser's current record (at most maxRecordBytes).
//
// Columns (header line required, names case-insensitive): phone (or phone_number, number, mobile,
// telephone), optional name, time_zone (or timezone, tz), consent_at, consent_method,
// consent_source, consent_expires_at (the consent evidence, read by contact-schema.ts); any other
// column goes to the contact's metadata as text.
//
// Per-row problems (bad number, wrong number of fields, stray quote, bad time zone, consent
// evidence that does not hold together: the first column at fault, with every reason) are reported as
// {line, column, reason} and the row is skipped; duplicates (already in the campaign, or earlier in
// the file) are counted with their lines. A problem with the file itself (not UTF-8, UTF-16, no
// phone column, a record over maxRecordBytes, e.g. an unclosed quote) stops the import: the report
// says so (complete: false, stopped: {line, reason}) and how many rows were imported before it.

import { parse } from 'csv-parse';
import { type CountryCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js';
import { E164_PATTERN } from './phone.ts';
import { CONSENT_COLUMNS, type ConsentColumn, type ConsentFields, parseConsentCells } from './contact-schema.ts';

export interface ImportRow extends ConsentFields {
  line: number;
  phone: string;
  name: string | null;
  time_zone: string | null;
  metadata: Record<string, string>;
}

export interface RowError {
  line: number;
  column: string;
  reason: string;
}

export interface ImportReport {
  /** Data rows seen (header and empty lines excluded). */
  rows: number;
  imported: number;
  duplicates: number;
  /** Lines of the duplicates (the first 1000). */
  duplicate_lines: number[];
  /** Rows refused (the first 1000 listed in errors). */
  errors_total: number;
  errors: RowError[];
  /** False when the file could not be read to its end (see stopped). */
  complete: boolean;
  stopped: { line: number; reason: string } | null;
  /** Every row up to this line was written (imported, duplicate or refused). */
  committed_through_line: number;
  batches: number;
}

export interface ImportOptions {
  /** ISO 3166 region of national numbers (e.g. US, FR); without it a number needs its +country code. */
  region?: string | undefined;
  /** Field delimiter (default ','). */
  delimiter?: string | undefined;
  batchSize?: number;
  /** Added to every line number (a chunk of a bigger file: the file's line of the chunk's line 1, minus 1). */
  lineOffset?: number;
  maxRecordBytes?: number;
  /** The body is refused past this many bytes (the import stops there, saying so). */
  maxBytes?: number;
  writeBatch: (rows: ImportRow[]) => Promise<Array<{ line: number; outcome: string }>>;
  onBatch?: (report: ImportReport) => void;
}

const LISTED = 1000;
const PHONE_COLUMNS = ['phone', 'phone_number', 'number', 'mobile', 'telephone', 'tel'];
const ZONE_COLUMNS = ['time_zone', 'timezone', 'tz'];

/** A problem with the file as a whole: the import stops. */
export class CsvFileError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
    this.name = 'CsvFileError';
  }
}

/** A region libphonenumber-js knows (ISO 3166 alpha-2, e.g. US, FR). */
export function isRegion(text: string): boolean {
  return /^[A-Z]{2}$/.test(text) && isSupportedCountry(text);
}

/** The E.164 form of a number, or why not. */
export function normalisePhone(text: string, region?: string): { phone: string } | { reason: string } {
  const raw = text.trim().replace(/^'/, ''); // an exported cell ('+1555...: see csv-export.ts)
  if (raw === '') return { reason: 'no phone number' };
  if (raw.length > 64) return { reason: 'not a phone number (too long)' };
  const parsed = parsePhoneNumberFromString(raw, region as CountryCode | undefined);
  if (!parsed) {
    return {
      reason: region || raw.startsWith('+')
        ? 'not a phone number'
        : 'not in international form (+country code) and no default region given',
    };
  }
  if (!parsed.isValid()) return { reason: `not a valid number${parsed.country ? ` for ${parsed.country}` : ''}` };
  if (!E164_PATTERN.test(parsed.number)) return { reason: 'not an E.164 number' };
  return { phone: parsed.number };
}

/** Waits until a writable can take more (drain), or is gone. */
function drained(stream: { once(e: string, f: () => void): unknown; off(e: string, f: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
  });
}

export async function importContactsCsv(source: ReadableStream<Uint8Array>, opts: ImportOptions): Promise<ImportReport> {
  const batchSize = opts.batchSize ?? 1000;
  const offset = opts.lineOffset ?? 0;
  const report: ImportReport = {
    rows: 0,
    imported: 0,
    duplicates: 0,
    duplicate_lines: [],
    errors_total: 0,
    errors: [],
    complete: true,
    stopped: null,
    committed_through_line: 0,
    batches: 0,
  };
  const rowError = (e: RowError) => {
    report.errors_total++;
    if (report.errors.length < LISTED) report.errors.push(e);
  };
  // A problem with the file itself: the pump stops feeding the parser; the rows parsed before it
  // are still read and written, none after it.
  const stop: { fatal: CsvFileError | null } = { fatal: null };
  const parser = parse({
    bom: true,
    delimiter: opts.delimiter ?? ',',
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: opts.maxRecordBytes ?? 65_536,
    on_skip: (err) => {
      const e = err as Error & { code?: string; lines?: number; column?: number | string };
      const line = (e.lines ?? 0) + offset;
      if (e.code === 'CSV_MAX_RECORD_SIZE') {
        stop.fatal ??= new CsvFileError(
          `line ${line}: a record longer than ${opts.maxRecordBytes ?? 65_536} bytes (an unclosed quote, or not a contacts file)`,
          line,
        );
        return undefined;
      }
      if (stop.fatal) return undefined;
      if (report.errors.length > 0 && report.errors[report.errors.length - 1]!.line === line) return undefined;
      // a field's index: named once the header is known (at the end)
      const column = /^[0-9]+$/.test(String(e.column ?? '')) ? `#${String(e.column)}` : String(e.column ?? '');
      rowError({ line, column, reason: e.message.replace(/\s+/g, ' ') });
      return undefined;
    },
  });

  const reader = source.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (
          bytes === 0 && value.length >= 2 &&
          ((value[0] === 0xff && value[1] === 0xfe) || (value[0] === 0xfe && value[1] === 0xff))
        ) {
          throw new CsvFileError('the file is UTF-16: save it as UTF-8 (CSV UTF-8) and send it again', 1);
        }
        let text: string;
        try {
          text = decoder.decode(value, { stream: true });
        } catch {
          throw new CsvFileError(
            `the file is not UTF-8 (bad bytes after byte ${bytes}): save it as UTF-8 (CSV UTF-8) and send it again`,
            Number.MAX_SAFE_INTEGER,
          );
        }
        bytes += value.length;
        if (opts.maxBytes !== undefined && bytes > opts.maxBytes) {
          throw new CsvFileError(
            `the body is larger than ${opts.maxBytes} bytes: send the file in parts (npm run campaign -- import does)`,
            Number.MAX_SAFE_INTEGER,
          );
        }
        if (text.includes('\u0000')) throw new CsvFileError('the file holds NUL characters: not a UTF-8 text file', 1);
        if (text && !parser.write(text)) await drained(parser);
        if (stop.fatal) break;
      }
      if (!stop.fatal) {
        const tail = decoder.decode();
        if (tail) parser.write(tail);
        parser.end();
        return;
      }
    } catch (err) {
      stop.fatal ??= err instanceof CsvFileError ? err : new CsvFileError(String(err), Number.MAX_SAFE_INTEGER);
    }
    // Stopped: the records parsed so far are read; an unfinished last record is dropped.
    parser.push(null);
    // The rest of the body is read and dropped (bounded), so the client gets its answer.
    let dropped = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        dropped += value.length;
        if (dropped > (opts.maxBytes ?? 64 * 1024 * 1024)) {
          await reader.cancel();
          break;
        }
      }
    } catch {
      // the client went away
    }
  })();

  let header: string[] | null = null;
  let phoneAt = -1;
  let nameAt = -1;
  let zoneAt = -1;
  let consentAt: Array<[ConsentColumn, number]> = [];
  let batch: ImportRow[] = [];
  let lastLine = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const outcomes = await opts.writeBatch(batch);
    for (const o of outcomes) {
      if (o.outcome === 'imported') report.imported++;
      else if (o.outcome === 'duplicate') {
        report.duplicates++;
        if (report.duplicate_lines.length < LISTED) report.duplicate_lines.push(o.line);
      } else if (o.outcome === 'bad_time_zone') {
        const row = batch.find((r) => r.line === o.line);
        rowError({ line: o.line, column: header?.[zoneAt] ?? 'time_zone', reason: `not a time zone: ${row?.time_zone ?? ''}` });
      } else if (o.outcome === 'bad_consent') {
        // The parser checks what the table checks: only a rule of the table's it does not know gets here.
        rowError({ line: o.line, column: 'consent_at', reason: 'consent evidence refused by the database' });
      }
    }
    report.batches++;
    report.committed_through_line = lastLine;
    batch = [];
    opts.onBatch?.(report);
  };

  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = item.info.lines + offset;
      if (stop.fatal && line >= stop.fatal.line) break;
      if (header === null) {
        header = item.record.map((h) => h.trim().toLowerCase());
        phoneAt = header.findIndex((h) => PHONE_COLUMNS.includes(h));
        nameAt = header.indexOf('name');
        zoneAt = header.findIndex((h) => ZONE_COLUMNS.includes(h));
        consentAt = CONSENT_COLUMNS.map((c): [ConsentColumn, number] => [c, header!.indexOf(c)]).filter(([, i]) => i >= 0);
        if (phoneAt < 0) {
          const only = header.length === 1 ? header[0]! : '';
          const guess = [';', '\t', '|'].find((d) => only.includes(d));
          throw new CsvFileError(
            guess
              ? `the header line has one column "${only.slice(0, 80)}": the file looks ${
                guess === '\t' ? 'tab' : guess
              }-separated; send it with delimiter=${guess === '\t' ? '%09' : encodeURIComponent(guess)}`
              : `no phone column in the header (found: ${header.slice(0, 20).join(', ') || 'nothing'}); name one of ${
                PHONE_COLUMNS.join(', ')
              }`,
            line,
          );
        }
        lastLine = line;
        continue;
      }
      report.rows++;
      lastLine = line;
      const rec = item.record;
      if (rec.length !== header.length) {
        rowError({
          line,
          column: '',
          reason: `${rec.length} fields where the header has ${header.length} (wrong delimiter or quoting?)`,
        });
        continue;
      }
      const phone = normalisePhone(rec[phoneAt]!, opts.region);
      if ('reason' in phone) {
        rowError({ line, column: header[phoneAt]!, reason: `${phone.reason}: ${JSON.stringify(rec[phoneAt]!.slice(0, 40))}` });
        continue;
      }
      const consent = parseConsentCells(Object.fromEntries(consentAt.map(([c, i]) => [c, rec[i]!])));
      if ('errors' in consent) {
        // One error for the row (errors_total counts rows): the first column at fault, every reason.
        rowError({ line, column: consent.errors[0]!.column, reason: consent.errors.map((e) => e.reason).join('; ') });
        continue;
      }
      const metadata: Record<string, string> = {};
      header.forEach((h, i) => {
        if (i !== phoneAt && i !== nameAt && i !== zoneAt && !consentAt.some(([, at]) => at === i) && h !== '') {
          metadata[h] = rec[i]!;
        }
      });
      const name = nameAt >= 0 ? rec[nameAt]!.trim().slice(0, 200) || null : null;
      const zone = zoneAt >= 0 ? rec[zoneAt]!.trim() || null : null;
      batch.push({ line, phone: phone.phone, name, time_zone: zone, metadata, ...consent.consent });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    if (stop.fatal) throw stop.fatal;
    if (header === null) throw new CsvFileError('the file is empty: a header line (phone,name,...) and rows are expected', 1);
  } catch (err) {
    if (!(err instanceof CsvFileError)) {
      await reader.cancel().catch(() => undefined);
      throw err;
    }
    // The good rows parsed before the stop are written (and said so: committed_through_line).
    await flush();
    report.complete = false;
    report.stopped = {
      line: err.line === Number.MAX_SAFE_INTEGER ? report.committed_through_line + 1 : err.line,
      reason: err.message,
    };
  } finally {
    await pump;
  }
  const named = header as string[] | null;
  report.errors = report.errors.map((e) =>
    /^#[0-9]+$/.test(e.column) ? { ...e, column: named?.[Number(e.column.slice(1))] ?? e.column.slice(1) } : e
  );
  return report;
}
