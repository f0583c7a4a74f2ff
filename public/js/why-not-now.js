// @ts-check
// The "Why not now" panel: GET /wait-reasons (contact_wait_reasons), every 30 s while signed in,
// and on demand. Evaluated per contact on the server, so not with every 5-second status refresh.
// One row per campaign and reason, with when the wait ends (in the zone that decides it).

import { api, apiProblem } from './api.js';
import { $, el, fillTable, showNote } from './dom.js';
import { fmtInt, fmtInZone } from './format.js';
import { state } from './state.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').WaitReasonsPayload} WaitReasonsPayload */
/** @typedef {import('../../supabase/functions/_shared/status.ts').ContactWaitRow} ContactWaitRow */
/** @typedef {import('../../supabase/functions/_shared/status.ts').WaitReason} WaitReason */

const WAIT_REFRESH_MS = 30_000;

/** @type {Record<WaitReason, string>} */
const WAIT_LABELS = {
  'campaign paused': 'Campaign paused',
  'campaign not started': 'Campaign not started',
  'campaign ended': 'Campaign ended',
  'campaign set-up problem': 'Campaign set-up problem',
  'do-not-call': 'On the do-not-call list',
  'attempts used': 'All attempts used',
  'scheduled callback': 'Scheduled callback (the person asked)',
  'retry later': 'Retry delay not reached',
  'window closed': 'Calling window closed',
  'quiet hours': 'Calling-hours rule (quiet hours)',
  'number in a call': 'Number in a call (another campaign)',
  'frequency cap': 'Frequency cap (calls per number per 24 h)',
  due: 'Due: waiting for a free slot',
};

/** @param {ContactWaitRow} r */
function waitUntil(r) {
  if (r.reason === 'campaign paused' || r.reason === 'campaign set-up problem') return r.detail ?? '';
  if (r.reason === 'window closed' || r.reason === 'quiet hours') {
    const opens = r.opens_at ? `opens ${fmtInZone(r.opens_at, r.time_zone)}` : 'does not open within 15 days';
    // Quiet hours: in which zone, from where (the number's prefix, the contact, or the campaign's
    // zone for numbers without zone data).
    return r.reason === 'quiet hours' && r.detail ? `${r.detail}; ${opens}` : opens;
  }
  if (r.reason === 'campaign not started') return r.opens_at ? `starts ${fmtInZone(r.opens_at, r.time_zone)}` : '';
  if (r.reason === 'scheduled callback') return r.opens_at ? `callback at ${fmtInZone(r.opens_at, r.time_zone)}` : '';
  if (r.reason === 'retry later') return r.opens_at ? `next attempt from ${fmtInZone(r.opens_at, r.time_zone)}` : '';
  return '';
}

/** @param {ContactWaitRow[]} rows */
function renderWaitReasons(rows) {
  /** @type {string | null} */
  let previous = null;
  fillTable('wait-table', rows, (r) => {
    const first = r.campaign_id !== previous;
    previous = r.campaign_id;
    const tr = el('tr', { testid: 'wait-row', className: first ? 'group-start' : '' }, [
      el('th', { text: first ? r.campaign_name : '', title: `Campaign ${r.campaign_id}` }),
      el('td', { text: WAIT_LABELS[r.reason] ?? r.reason }),
      el('td', { className: 'num', text: fmtInt(r.contacts) }),
      el('td', { testid: 'wait-until', text: waitUntil(r), title: r.opens_at ?? '' }),
    ]);
    tr.firstElementChild?.setAttribute('scope', 'row');
    tr.dataset.campaign = r.campaign_name;
    tr.dataset.reason = r.reason;
    if (r.opens_at) tr.dataset.opensAt = r.opens_at;
    return tr;
  }, 'no-waiting');
}

export async function loadWaitReasons() {
  if (!state.token || $('dashboard').hidden) return;
  try {
    const { reasons } = /** @type {WaitReasonsPayload} */ (await api('GET', '/wait-reasons'));
    renderWaitReasons(reasons);
  } catch (err) {
    showNote('no-waiting', `Cannot read why contacts wait: ${apiProblem(err)}.`);
  }
}

export function wireWaitReasons() {
  $('wait-refresh').addEventListener('click', () => void loadWaitReasons());
  setInterval(() => void loadWaitReasons(), WAIT_REFRESH_MS);
}
