// @ts-check
// The "Provider accounts" card (scheduler-admin /accounts, the view scheduler_account_status): each
// account's rate, active calls against its cap, breaker and campaigns; its form creates an account
// or changes an existing one's rate and cap; the campaign form's account select offers them.

import { api, apiProblem } from './api.js';
import { loadAudit } from './audit.js';
import { $, badgeFor, el, fillTable, input, option, rowButton, showResult } from './dom.js';
import { fmtInt, fmtTime } from './format.js';
import { gate } from './roles.js';

/**
 * @typedef {{ id: string, provider: string, account_sid: string | null, calls_per_second: number, own_calls_per_second: number | null,
 *   max_concurrent_calls: number | null, active_calls: number, queued_calls: number,
 *   breaker_state: 'closed' | 'open' | 'half_open', breaker_open_until: string | null,
 *   breaker_last_failure_reason: string | null, campaigns: number, live_campaigns: number,
 *   campaign_ids: number[] }} ProviderAccount
 */

/** @type {{ accounts: ProviderAccount[], loads: number }} */
const accountsView = { accounts: [], loads: 0 };

/** @param {string} text @param {string} [tone] */
const accountResult = (text, tone) => showResult('account-result', text, tone);

export async function loadAccounts() {
  const load = ++accountsView.loads;
  try {
    const { accounts } = /** @type {{ accounts: ProviderAccount[] }} */ (await api('GET', '/accounts'));
    if (load !== accountsView.loads) return; // a later load (after a change) answers instead
    accountsView.accounts = accounts;
    fillTable('accounts-table', accounts, accountRow);
    fillAccountSelect(accounts);
  } catch (err) {
    accountResult(`Cannot list the provider accounts: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {ProviderAccount} a */
function accountRow(a) {
  const breakerCell = el('td', {}, [badgeFor(a.breaker_state)]);
  if (a.breaker_state === 'open' && a.breaker_open_until) {
    breakerCell.append(el('div', { className: 'muted', text: `until ${fmtTime(a.breaker_open_until)}` }));
  }
  if (a.breaker_state !== 'closed' && a.breaker_last_failure_reason) {
    breakerCell.append(el('div', { className: 'muted', text: a.breaker_last_failure_reason }));
  }
  const rate = `${a.calls_per_second}${a.own_calls_per_second === null ? ' (global)' : ''}`;
  const cap = a.max_concurrent_calls === null ? 'no cap' : fmtInt(a.max_concurrent_calls);
  const used = a.campaigns === 0
    ? 'none'
    : `${fmtInt(a.campaigns)} (#${a.campaign_ids.join(', #')})${
      a.live_campaigns < a.campaigns ? `, ${a.live_campaigns} live` : ''
    }`;
  const actions = el('td', {}, [gate(rowButton('Edit', `account-edit-${a.id}`, () => fillAccountForm(a)), 'admin')]);
  if (a.campaigns === 0 && a.id !== 'default') {
    actions.append(gate(rowButton('Delete', `account-delete-${a.id}`, () => void deleteAccount(a)), 'admin'));
  }
  const name = el('th', { text: a.id });
  if (a.account_sid) name.append(el('div', { className: 'muted mono', text: a.account_sid }));
  name.append(el('div', { className: 'muted', testid: `account-kind-${a.id}`, text: a.provider }));
  name.setAttribute('scope', 'row');
  return el('tr', { testid: `account-${a.id}` }, [
    name,
    el('td', { className: 'num', text: rate }),
    el('td', { className: 'mono', text: `${fmtInt(a.active_calls)} / ${cap}` }),
    breakerCell,
    el('td', { text: used }),
    actions,
  ]);
}

/** The campaign form's account select: the accounts, keeping what is chosen. @param {ProviderAccount[]} accounts */
function fillAccountSelect(accounts) {
  const select = /** @type {HTMLSelectElement} */ ($('f-provider_account'));
  const keep = select.value;
  select.replaceChildren(option('(default account)', ''), ...accounts.map((a) => option(a.id, a.id)));
  // A campaign being edited may name an account not listed yet: keep it as an option.
  if (keep && !accounts.some((a) => a.id === keep)) select.append(option(keep, keep));
  select.value = keep;
}

/** @param {ProviderAccount} a */
function fillAccountForm(a) {
  input('account-id').value = a.id;
  // The platform is chosen at creation only.
  /** @type {HTMLSelectElement} */ ($('account-kind')).value = a.provider;
  input('account-sid').value = a.account_sid ?? '';
  input('account-cps').value = a.own_calls_per_second === null ? '' : String(a.own_calls_per_second);
  input('account-cap').value = a.max_concurrent_calls === null ? '' : String(a.max_concurrent_calls);
  accountResult(`Editing ${a.id}: empty calls per second = the global setting, empty cap = no cap of its own.`);
}

/** @param {string} raw */
const numberOrText = (raw) => (raw === '' ? null : Number.isFinite(Number(raw)) ? Number(raw) : raw);

/** Creates the account, or changes the rate and cap of an existing one. @param {SubmitEvent} event */
async function saveAccount(event) {
  event.preventDefault();
  const id = input('account-id').value.trim();
  const sid = input('account-sid').value.trim();
  const cap = input('account-cap').value.trim();
  const exists = accountsView.accounts.some((a) => a.id === id);
  /** @type {Record<string, unknown>} */
  const fields = {
    account_sid: sid === '' ? null : sid,
    calls_per_second: numberOrText(input('account-cps').value.trim()),
  };
  // A new account without a cap starts at its platform's default (Vapi 10, Retell 20); an existing
  // one's empty cap means no cap of its own.
  if (cap !== '' || exists) fields.max_concurrent_calls = numberOrText(cap);
  if (!exists) fields.provider = /** @type {HTMLSelectElement} */ ($('account-kind')).value;
  try {
    const a = /** @type {ProviderAccount} */ (
      exists
        ? await api('PATCH', `/accounts/${encodeURIComponent(id)}`, undefined, fields)
        : await api('POST', '/accounts', undefined, { id, ...fields })
    );
    accountResult(
      `Account ${a.id} ${exists ? 'saved' : 'created'}: ${a.calls_per_second} calls/s, ${
        a.max_concurrent_calls === null ? 'no cap of its own' : `cap ${a.max_concurrent_calls}`
      }.`,
      'good',
    );
    /** @type {HTMLFormElement} */ ($('account-form')).reset();
  } catch (err) {
    accountResult(`Not saved: ${apiProblem(err)}.`, 'bad');
  }
  await loadAccounts();
  void loadAudit();
}

/** @param {ProviderAccount} a */
async function deleteAccount(a) {
  if (!globalThis.confirm(`Delete provider account ${a.id}?`)) return;
  try {
    await api('DELETE', `/accounts/${encodeURIComponent(a.id)}`);
    accountResult(`Account ${a.id} deleted.`, 'good');
  } catch (err) {
    accountResult(`Not deleted: ${apiProblem(err)}.`, 'bad');
  }
  await loadAccounts();
  void loadAudit();
}

export function wireAccounts() {
  $('account-form').addEventListener('submit', (e) => void saveAccount(/** @type {SubmitEvent} */ (e)));
  $('accounts-refresh').addEventListener('click', () => void loadAccounts());
}
