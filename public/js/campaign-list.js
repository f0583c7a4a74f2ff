// @ts-check
// The campaigns table of the status view (GET /status's campaigns): status and paused reason,
// priority, active calls against the campaign's cap, queue and contact counts, machine answers,
// the campaign's dates, and the provider account of each (known from the campaigns the controls
// loaded: setCampaignAccounts).

import { badgeFor, el, fillTable } from './dom.js';
import { campaignDatesText } from './dates.js';
import { fmtInt, num, serverNow } from './format.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').CampaignProgressRow} CampaignProgressRow */

/** Campaign id -> its provider account ('' for the default). @type {Map<string, string>} */
let accountOf = new Map();

/** @param {CampaignProgressRow[]} rows */
export function renderCampaigns(rows) {
  fillTable('campaigns-table', rows, campaignRow, 'no-campaigns');
  paintCampaignAccounts();
}

/** @param {CampaignProgressRow} c */
function campaignRow(c) {
  const status = badgeFor(c.status);
  const tr = el('tr', { testid: 'campaign-row' }, [
    campaignNameCell(c),
    el(
      'td',
      {},
      c.paused_reason ? [status, el('div', { className: 'muted', testid: 'paused-reason', text: c.paused_reason })] : [status],
    ),
    el('td', { className: 'num', text: fmtInt(c.priority) }),
    el('td', {}, [capCell(c.active_calls, c.max_concurrent_calls)]),
    el('td', { className: 'num', text: fmtInt(c.queued_calls) }),
    el('td', { className: 'num', text: fmtInt(c.contacts_remaining) }),
    el('td', { className: 'num', text: fmtInt(c.contacts_done) }),
    el('td', { className: 'num', text: fmtInt(c.contacts_exhausted) }),
    el('td', { className: 'num', text: `${fmtInt(c.contacts_invalid)} / ${fmtInt(c.contacts_do_not_call)}` }),
    el('td', { className: 'num', text: fmtInt(c.contacts_total) }),
    el('td', {
      className: 'num',
      testid: 'campaign-machine-answers',
      text: fmtInt(c.machine_answers_last_day),
      title: `${fmtInt(c.machine_answers_last_hour)} in the last hour`,
    }),
  ]);
  tr.firstElementChild?.setAttribute('scope', 'row');
  return tr;
}

/**
 * The name cell: the name, and the campaign's dates when it has any.
 * @param {CampaignProgressRow} c
 */
function campaignNameCell(c) {
  const th = el('th', { title: `Campaign ${c.campaign_id}` }, [el('span', { text: c.name })]);
  const dates = campaignDatesText(c.starts_at, c.ends_at, serverNow());
  if (dates) th.append(el('div', { className: 'muted campaign-dates', testid: 'campaign-dates', text: dates }));
  return th;
}

/** @param {unknown} active @param {unknown} cap */
function capCell(active, cap) {
  const a = num(active) ?? 0;
  const c = num(cap) ?? 0;
  const pct = c > 0 ? Math.min(100, Math.round((a / c) * 100)) : 0;
  const fill = el('span');
  fill.style.width = `${pct}%`;
  const bar = el('span', { className: `mini-bar${c > 0 && a >= c ? ' full' : ''}` }, [fill]);
  bar.setAttribute('aria-hidden', 'true');
  return el('div', { className: 'cap-cell' }, [el('span', { className: 'mono', text: `${a} / ${c}` }), bar]);
}

/**
 * The campaigns' provider accounts, from the controls' campaign list; the table names them.
 * @param {Array<{ id: string | number, provider_account?: string | null }>} campaigns
 */
export function setCampaignAccounts(campaigns) {
  accountOf = new Map(campaigns.map((c) => [String(c.id), String(c.provider_account ?? '')]));
  paintCampaignAccounts();
}

/** The campaign list names each campaign's account. */
function paintCampaignAccounts() {
  for (const th of document.querySelectorAll('#campaigns-table tbody tr > th:first-child')) {
    const id = /^Campaign (\d+)$/.exec(/** @type {HTMLElement} */ (th).title)?.[1];
    const account = id ? accountOf.get(id) : undefined;
    let note = th.querySelector('[data-testid=campaign-account]');
    if (!account) {
      note?.remove();
      continue;
    }
    if (!note) {
      note = el('div', { className: 'muted campaign-account', testid: 'campaign-account' });
      th.append(note);
    }
    note.textContent = `account ${account}`;
  }
}
