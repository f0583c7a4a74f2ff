// @ts-check
// The contacts import form: a CSV file POSTed to /campaigns/<id>/contacts (a big file in parts of
// ROWS_PER_PART records, as `npm run campaign -- import` does), and the report: rows, imported,
// duplicates, the refused lines and where an import stopped.

import { postCsv } from './api.js';
import { loadAudit } from './audit.js';
import { loadCampaigns, selectedCampaignId } from './campaigns.js';
import { $, el, input } from './dom.js';
import { fmtInt, plural } from './format.js';
import { refresh } from './refresh.js';

/**
 * @typedef {{ rows: number, imported: number, duplicates: number, duplicate_lines: number[],
 *   errors_total: number, errors: Array<{ line: number, column: string | null, reason: string }>,
 *   complete: boolean, stopped: { line: number, reason: string } | null, committed_through_line: number }} ImportReport
 */
/** @typedef {import('./api.js').ErrorBody} ErrorBody */

/** Records per POST when a big file is sent in parts. */
const ROWS_PER_PART = 5000;

/**
 * A big file in parts of ROWS_PER_PART records, each the header and its records as they are in the
 * file, with the line offset that keeps the reported line numbers the file's. A record ends at a
 * line break outside quotes.
 * @param {string} text
 * @returns {Array<{ body: string, lineOffset: number }>}
 */
function csvParts(text) {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  /** @type {Array<{ body: string, lineOffset: number }>} */
  const parts = [];
  let header = '';
  let headerLines = 0;
  /** @type {string[]} */
  let part = [];
  let records = 0;
  let firstLine = 0;
  let record = '';
  let inQuotes = false;
  let recordStart = 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (!inQuotes) recordStart = i + 1;
    record += `${line}\n`;
    inQuotes = ((line.match(/"/g)?.length ?? 0) % 2 === 1) !== inQuotes;
    if (inQuotes) continue;
    if (!header) {
      header = record;
      headerLines = i + 1;
    } else {
      if (part.length === 0) firstLine = recordStart;
      part.push(record);
      records++;
      if (records === ROWS_PER_PART) {
        parts.push({ body: header + part.join(''), lineOffset: firstLine - headerLines - 1 });
        part = [];
        records = 0;
      }
    }
    record = '';
  }
  if (record) part.push(record);
  if (part.length > 0) parts.push({ body: header + part.join(''), lineOffset: firstLine - headerLines - 1 });
  return parts;
}

/** @param {SubmitEvent} event */
async function importCsv(event) {
  event.preventDefault();
  const id = selectedCampaignId();
  const file = input('csv-file').files?.[0];
  const report = $('import-report');
  const list = $('import-errors');
  list.replaceChildren();
  if (!id || !file) {
    report.textContent = 'Choose a campaign and a CSV file first.';
    return;
  }
  const region = input('csv-region').value.trim().toUpperCase();
  // A small file goes as it is (the function reports encoding problems); a big one in parts.
  const parts = file.size < 2 * 1024 * 1024
    ? [{ body: /** @type {Blob | string} */ (file), lineOffset: 0 }]
    : csvParts(await file.text());
  const total = { rows: 0, imported: 0, duplicates: 0, errors: 0 };
  /** @type {ImportReport['errors']} */
  const errors = [];
  /** @type {number[]} */
  const duplicateLines = [];
  let stopped = '';
  for (const [n, part] of parts.entries()) {
    report.textContent = `Importing ${file.name}: part ${n + 1} of ${parts.length}…`;
    const q = new URLSearchParams({ line_offset: String(part.lineOffset) });
    if (region) q.set('region', region);
    try {
      const res = await postCsv(`/campaigns/${encodeURIComponent(id)}/contacts?${q}`, part.body);
      const r = /** @type {Partial<ImportReport> & ErrorBody} */ (res.body ?? {});
      if (res.status !== 200 && res.status !== 422) {
        stopped = res.status === 403 && r.needed_role
          ? `not allowed for your role (needs ${r.needed_role})`
          : `HTTP ${res.status}: ${r.message ?? r.error ?? ''}`;
        break;
      }
      total.rows += r.rows ?? 0;
      total.imported += r.imported ?? 0;
      total.duplicates += r.duplicates ?? 0;
      total.errors += r.errors_total ?? 0;
      errors.push(...(r.errors ?? []));
      duplicateLines.push(...(r.duplicate_lines ?? []));
      if (r.complete === false || r.stopped) {
        stopped = r.stopped ? `line ${r.stopped.line}: ${r.stopped.reason}` : 'the file stopped part-way';
        break;
      }
    } catch {
      stopped = 'the scheduler API is unreachable';
      break;
    }
  }
  report.className = `import-report tone-${stopped ? 'bad' : total.errors > 0 ? 'warn' : 'good'}`;
  report.textContent = `${file.name}: ${fmtInt(total.rows)} rows, ${fmtInt(total.imported)} imported, ` +
    `${fmtInt(total.duplicates)} duplicate${plural(total.duplicates)}` +
    `${duplicateLines.length ? ` (lines ${duplicateLines.slice(0, 20).join(', ')})` : ''}, ${fmtInt(total.errors)} with errors.` +
    (stopped ? ` Stopped at ${stopped}; the rows before it are imported.` : '');
  list.replaceChildren(
    ...errors.slice(0, 100).map((e) =>
      el('li', { testid: 'import-error' }, [
        el('span', { className: 'chip', text: `line ${e.line}${e.column ? `, ${e.column}` : ''}` }),
        el('span', { className: 'error-message', text: e.reason }),
      ])
    ),
  );
  if (total.errors > errors.length || errors.length > 100) {
    list.append(el('li', { className: 'muted', text: `… ${fmtInt(total.errors - Math.min(errors.length, 100))} more` }));
  }
  void loadCampaigns();
  void refresh();
  void loadAudit();
}

export function wireContactsImport() {
  $('import-form').addEventListener('submit', (e) => void importCsv(/** @type {SubmitEvent} */ (e)));
}
