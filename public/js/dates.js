// @ts-check
// Campaign dates (starts_at / ends_at): entered and shown in this browser's time zone, sent as ISO
// 8601 instants (UTC). The shared schema and the database both refuse an end before the start.
// Fills and reads the campaign form's date fields, and words a campaign's dates for the list.

import { input } from './dom.js';

const DATE_FIELDS = /** @type {const} */ (['starts_at', 'ends_at']);
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, '0');

/**
 * An instant as a datetime-local value in this browser's time zone ('' for none).
 * @param {unknown} iso
 */
function localInputValue(iso) {
  if (typeof iso !== 'string' || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** This browser's UTC offset now, e.g. 'UTC+01:00'. */
function browserOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/** The form's date fields from a campaign (empty for none), with the zone they are in. @param {Record<string, unknown> | null} c */
export function fillDates(c) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const note of document.querySelectorAll('#campaign-form .tz-note')) note.textContent = `(${zone}, ${browserOffset()})`;
  for (const f of DATE_FIELDS) input(`f-${f}`).value = localInputValue(c ? c[f] : null);
}

/**
 * The dates of the form as request fields: an instant each, null to clear one when editing.
 * @param {boolean} editing
 */
export function datesBody(editing) {
  /** @type {Record<string, string | null>} */
  const body = {};
  for (const f of DATE_FIELDS) {
    const raw = input(`f-${f}`).value.trim();
    if (raw === '') {
      if (editing) body[f] = null;
      continue;
    }
    const d = new Date(raw); // a datetime-local value: this browser's local time
    // Not a date: sent as typed, the schema names the field.
    body[f] = Number.isNaN(d.getTime()) ? raw : d.toISOString();
  }
  return body;
}

/**
 * 'from 1 Dec 2026, 09:00 to 31 Dec 2026, 18:00', 'starts ...' / 'ended ...' relative to now; '' without dates.
 * @param {string | null | undefined} startsAt
 * @param {string | null | undefined} endsAt
 * @param {number} now
 */
export function campaignDatesText(startsAt, endsAt, now) {
  const start = startsAt ? new Date(startsAt) : null;
  const end = endsAt ? new Date(endsAt) : null;
  if (end && end.getTime() <= now) return `ended ${dateFmt.format(end)}`;
  const parts = [];
  if (start) parts.push(`${start.getTime() > now ? 'starts' : 'from'} ${dateFmt.format(start)}`);
  if (end) parts.push(`${start ? 'until' : 'ends'} ${dateFmt.format(end)}`);
  return parts.join(' ');
}
