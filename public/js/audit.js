// @ts-check
// The audit trail card: the 50 newest entries of GET /audit (who did what to which subject). The
// panels that change something reload it after the change.

import { api, apiProblem } from './api.js';
import { $, el, fillTable, showNote } from './dom.js';
import { fmtDateTime } from './format.js';

/** @typedef {{ id: string, at: string, actor: string, action: string, subject: string | null }} AuditEntry */

export async function loadAudit() {
  try {
    const { entries } = /** @type {{ entries: AuditEntry[] }} */ (await api('GET', '/audit?limit=50'));
    fillTable('audit-table', entries, auditRow, 'no-audit');
  } catch (err) {
    showNote('no-audit', `Cannot list the audit trail: ${apiProblem(err)}.`);
  }
}

/** @param {AuditEntry} e */
function auditRow(e) {
  return el('tr', { testid: 'audit-row' }, [
    el('td', { text: fmtDateTime(e.at), title: e.at }),
    el('td', { className: 'mono', text: e.actor }),
    el('td', { text: e.action }),
    el('td', { text: e.subject ?? '' }),
  ]);
}

export function wireAudit() {
  $('audit-refresh').addEventListener('click', () => void loadAudit());
}
