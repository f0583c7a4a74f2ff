// @ts-check
// The "Do-not-call" card: search the list (pages of 100), add a number, remove one with a reason,
// CSV import (its refused lines listed) and export.

import { api, apiProblem, download, HttpError, postCsv } from './api.js';
import { loadAudit } from './audit.js';
import { $, el, input, rowButton, showResult, tableBody } from './dom.js';
import { fmtDateTime, fmtInt } from './format.js';
import { gate } from './roles.js';

/** @typedef {{ phone: string, reason: string | null, added_at: string, added_by: string | null }} DoNotCallEntry */

const DNC_PAGE = 100;
const dncView = { query: '', next: /** @type {string | null} */ (null), loads: 0 };

/** @param {string} text @param {string} [tone] */
const dncResult = (text, tone) => showResult('dnc-result', text, tone);

/** @param {DoNotCallEntry} r */
function dncRow(r) {
  const number = el('th', { className: 'mono', text: r.phone });
  number.setAttribute('scope', 'row');
  return el('tr', { testid: `dnc-row-${r.phone}` }, [
    number,
    el('td', { text: r.reason ?? '' }),
    el('td', { text: fmtDateTime(r.added_at), title: r.added_at }),
    el('td', { className: 'mono', text: r.added_by ?? '' }),
    el('td', {}, [gate(rowButton('Remove', `dnc-remove-${r.phone}`, () => void removeDoNotCall(r.phone)), 'operator')]),
  ]);
}

/** Loads the first page of the current search (more: false), or the next page (more: true). */
export async function loadDoNotCall(more = false) {
  const load = ++dncView.loads;
  const tbody = tableBody('dnc-table');
  const q = new URLSearchParams({ limit: String(DNC_PAGE) });
  if (dncView.query) q.set('q', dncView.query);
  if (more && dncView.next) q.set('after', dncView.next);
  try {
    const page = /** @type {{ numbers: DoNotCallEntry[], next_after: string | null }} */ (await api('GET', `/do-not-call?${q}`));
    if (load !== dncView.loads) return;
    const rows = page.numbers.map(dncRow);
    if (more) tbody.append(...rows);
    else tbody.replaceChildren(...rows);
    dncView.next = page.next_after;
    $('dnc-more').hidden = page.next_after === null;
    $('no-dnc').hidden = tbody.children.length > 0;
  } catch (err) {
    dncResult(`Cannot list the do-not-call list: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {SubmitEvent} event */
async function addDoNotCall(event) {
  event.preventDefault();
  const phone = input('dnc-phone').value.trim();
  const reason = input('dnc-reason').value.trim();
  if (!/^\+[1-9][0-9]{6,14}$/.test(phone)) return dncResult('The number must be E.164: + then 7 to 15 digits.', 'warn');
  if (!reason) return dncResult('Give a reason.', 'warn');
  try {
    const r = /** @type {{ added: boolean, contacts_marked?: number }} */ (
      await api('POST', '/do-not-call', undefined, { phone, reason })
    );
    dncResult(
      r.added
        ? `${phone} added; ${fmtInt(r.contacts_marked ?? 0)} contact(s) marked do_not_call.`
        : `${phone} was already on the list: nothing changed.`,
      r.added ? 'good' : 'neutral',
    );
    input('dnc-phone').value = '';
    input('dnc-reason').value = '';
  } catch (err) {
    dncResult(`Not added: ${apiProblem(err)}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

/** @param {string} phone */
async function removeDoNotCall(phone) {
  const reason = globalThis.prompt(`Why take ${phone} off the do-not-call list? (required)`)?.trim();
  if (!reason) return dncResult(`${phone} stays on the list: a reason is required to remove it.`, 'warn');
  try {
    const r = /** @type {{ contacts_still_do_not_call: number }} */ (
      await api('DELETE', `/do-not-call/${encodeURIComponent(phone)}`, undefined, { reason })
    );
    dncResult(
      `${phone} removed; ${fmtInt(r.contacts_still_do_not_call)} contact(s) marked earlier stay do_not_call (not dialled again).`,
      'good',
    );
  } catch (err) {
    dncResult(`Not removed: ${apiProblem(err)}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

/** @param {SubmitEvent} event */
async function importDoNotCall(event) {
  event.preventDefault();
  const file = input('dnc-file').files?.[0];
  if (!file) return dncResult('Choose a CSV file first.', 'warn');
  const errors = $('dnc-errors');
  errors.replaceChildren();
  try {
    const res = await postCsv('/do-not-call/import', await file.text());
    const r = res.body;
    if (!res.ok) throw new HttpError(res.status, r, res.headers);
    errors.replaceChildren(
      ...(/** @type {Array<{ line: number, reason: string }>} */ (r.errors)).map((e) =>
        el('li', { testid: 'dnc-error', text: `line ${e.line}: ${e.reason}` })
      ),
    );
    dncResult(
      `${fmtInt(r.rows)} rows: ${fmtInt(r.added)} added, ${fmtInt(r.already_listed)} already listed, ${
        fmtInt(r.errors_total)
      } refused.`,
      r.errors_total > 0 ? 'warn' : 'good',
    );
  } catch (err) {
    const line = err instanceof HttpError && typeof err.body?.line === 'number' ? ` (line ${err.body.line})` : '';
    dncResult(`Import failed: ${apiProblem(err)}${line}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

async function exportDoNotCall() {
  try {
    await download('/do-not-call/export', 'do-not-call.csv');
    dncResult('Exported the do-not-call list.', 'good');
  } catch (err) {
    dncResult(`Export failed: ${apiProblem(err)}.`, 'bad');
  }
}

export function wireDoNotCall() {
  $('dnc-search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    dncView.query = input('dnc-query').value.trim();
    void loadDoNotCall();
  });
  $('dnc-add-form').addEventListener('submit', (e) => void addDoNotCall(/** @type {SubmitEvent} */ (e)));
  $('dnc-import-form').addEventListener('submit', (e) => void importDoNotCall(/** @type {SubmitEvent} */ (e)));
  $('dnc-export').addEventListener('click', () => void exportDoNotCall());
  $('dnc-more').addEventListener('click', () => void loadDoNotCall(true));
}
