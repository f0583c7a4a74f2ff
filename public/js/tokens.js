// @ts-check
// The "Operator tokens" card (admin only: the API lists tokens to admins alone, so roles.js hides the
// card from the others): each operator gets a token of their own (shown once) with a role (viewer
// unless chosen; never above the signed-in role, which is all the picker offers) and an expiry (90
// days unless said, 365 at most). A row's Revoke revokes that token by its id (DELETE /tokens/<id>);
// "Revoke all by creator" revokes every token the row's creator made and what those made (POST
// /tokens/revoke-by-creator with the row's created_by), after a confirmation.

import { api, apiProblem } from './api.js';
import { $, el, fillTable, input, option, rowButton, showResult } from './dom.js';
import { fmtDateTime, plural } from './format.js';
import { grantableRoles } from './roles.js';

/**
 * @typedef {{ id: string, name: string, role: string, created_at: string, created_by: string,
 *   expires_at: string | null, revoked_at: string | null, last_used_at: string | null,
 *   state: 'valid' | 'expired' | 'revoked' }} OperatorToken
 */

/** @param {string} text @param {string} [tone] */
const tokenResult = (text, tone) => showResult('token-result', text, tone);

/** The role picker: the roles the signed-in credential may give, viewer chosen. */
function fillRolePicker() {
  const select = /** @type {HTMLSelectElement} */ ($('token-role'));
  const roles = grantableRoles();
  if ([...select.options].map((o) => o.value).join() === roles.join()) return; // as offered (a choice kept)
  const current = roles.includes(/** @type {any} */ (select.value)) ? select.value : 'viewer';
  select.replaceChildren(...roles.map((r) => option(r, r)));
  select.value = current;
}

export async function loadTokens() {
  fillRolePicker();
  if ($('tokens').hidden) return; // not this role's to read
  try {
    const { tokens } = /** @type {{ tokens: OperatorToken[] }} */ (await api('GET', '/tokens'));
    fillTable('tokens-table', tokens, tokenRow, 'no-tokens');
  } catch (err) {
    tokenResult(`Cannot list the tokens: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {OperatorToken} t */
function tokenRow(t) {
  const cells = [
    t.id,
    t.name,
    t.role,
    t.state,
    t.created_by,
    fmtDateTime(t.created_at),
    t.expires_at ? fmtDateTime(t.expires_at) : 'never',
    t.last_used_at ? fmtDateTime(t.last_used_at) : '–',
  ];
  /** @type {HTMLElement[]} */
  const buttons = [];
  if (t.state === 'valid') {
    const revoke = rowButton('Revoke', `revoke-${t.name}`, () => void revokeToken(t));
    revoke.setAttribute('aria-label', `Revoke token ${t.id} (${t.name})`);
    buttons.push(revoke);
  }
  const byCreator = rowButton('Revoke all by creator', `revoke-creator-${t.name}`, () => void revokeByCreator(t));
  // The accessible name starts with the visible text (what a speech user says), then whose tokens.
  byCreator.setAttribute('aria-label', `Revoke all by creator ${t.created_by}`);
  byCreator.title = `Revoke every token made by ${t.created_by}, and the tokens those made`;
  buttons.push(byCreator);
  return el('tr', { testid: `token-${t.name}` }, [
    ...cells.map((text, i) => el('td', { text, ...(i === 0 ? { className: 'num' } : {}) })),
    el('td', { className: 'row-actions' }, buttons),
  ]);
}

/** @param {SubmitEvent} event */
async function createToken(event) {
  event.preventDefault();
  const name = input('token-name').value.trim();
  const role = /** @type {HTMLSelectElement} */ ($('token-role')).value || 'viewer';
  const days = Number(input('token-days').value);
  try {
    const created = /** @type {{ id: string, name: string, role: string, expires_at: string, token: string }} */ (
      await api('POST', '/tokens', undefined, { name, role, ...(days > 0 ? { expires_in_days: days } : {}) })
    );
    input('new-token').value = created.token;
    $('new-token-box').hidden = false;
    tokenResult(
      `Token for ${created.name} created (id ${created.id}, ${created.role}, expires ${fmtDateTime(created.expires_at)}). ` +
        'Copy it now: it is not shown again.',
      'good',
    );
    /** @type {HTMLFormElement} */ ($('token-form')).reset();
  } catch (err) {
    tokenResult(`Not created: ${apiProblem(err)}.`, 'bad');
  }
  await loadTokens();
}

/** @param {OperatorToken} t */
async function revokeToken(t) {
  if (!globalThis.confirm(`Revoke token ${t.id} (${t.name})? Whoever uses it is signed out at once.`)) return;
  try {
    await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
    tokenResult(`Token ${t.id} of ${t.name} revoked.`, 'good');
  } catch (err) {
    tokenResult(`Not revoked: ${apiProblem(err)}.`, 'bad');
  }
  await loadTokens();
}

/** @param {OperatorToken} t */
async function revokeByCreator(t) {
  const question = `Revoke every live token made by ${t.created_by}, and every token those made? ` +
    'Whoever uses them is signed out at once.';
  if (!globalThis.confirm(question)) return;
  try {
    const { revoked } = /** @type {{ revoked: Array<{ id: string, name: string }> }} */ (
      await api('POST', '/tokens/revoke-by-creator', undefined, { created_by: t.created_by })
    );
    const names = revoked.map((r) => `${r.id} (${r.name})`).join(', ');
    tokenResult(
      `${revoked.length} token${plural(revoked.length)} made by ${t.created_by} revoked${names ? `: ${names}` : ''}.`,
      'good',
    );
  } catch (err) {
    tokenResult(`Not revoked: ${apiProblem(err)}.`, 'bad');
  }
  await loadTokens();
}

export function wireTokens() {
  $('token-form').addEventListener('submit', (e) => void createToken(/** @type {SubmitEvent} */ (e)));
  $('tokens-refresh').addEventListener('click', () => void loadTokens());
}
