// @ts-check
// The "Operator tokens" card: each operator gets a token of their own (shown once), revocable,
// with an optional expiry (GET / POST /tokens, DELETE /tokens/<id>).

import { api, HttpError } from './api.js';
import { $, el, fillTable, input, rowButton } from './dom.js';
import { fmtDateTime } from './format.js';

/**
 * @typedef {{ id: string, name: string, created_at: string, created_by: string, expires_at: string | null,
 *   revoked_at: string | null, last_used_at: string | null, state: 'valid' | 'expired' | 'revoked' }} OperatorToken
 */

/** @param {unknown} err */
const problem = (err) => (err instanceof HttpError ? `HTTP ${err.status}` : 'the API is unreachable');

export async function loadTokens() {
  try {
    const { tokens } = /** @type {{ tokens: OperatorToken[] }} */ (await api('GET', '/tokens'));
    fillTable('tokens-table', tokens, tokenRow, 'no-tokens');
  } catch (err) {
    $('token-result').textContent = `Cannot list the tokens: ${problem(err)}.`;
  }
}

/** @param {OperatorToken} t */
function tokenRow(t) {
  const cells = [
    t.name,
    t.state,
    fmtDateTime(t.created_at),
    t.expires_at ? fmtDateTime(t.expires_at) : 'never',
    t.last_used_at ? fmtDateTime(t.last_used_at) : '–',
  ];
  const actions = el('td', {}, t.state !== 'revoked' ? [rowButton('Revoke', `revoke-${t.name}`, () => void revokeToken(t))] : []);
  return el('tr', { testid: `token-${t.name}` }, [...cells.map((text) => el('td', { text })), actions]);
}

/** @param {SubmitEvent} event */
async function createToken(event) {
  event.preventDefault();
  const name = input('token-name').value.trim();
  const days = Number(input('token-days').value);
  const result = $('token-result');
  try {
    const created = /** @type {{ name: string, token: string }} */ (
      await api('POST', '/tokens', undefined, { name, ...(days > 0 ? { expires_in_days: days } : {}) })
    );
    input('new-token').value = created.token;
    $('new-token-box').hidden = false;
    result.textContent = `Token for ${created.name} created. Copy it now: it is not shown again.`;
    /** @type {HTMLFormElement} */ ($('token-form')).reset();
  } catch (err) {
    result.textContent = err instanceof HttpError
      ? `Not created: ${err.body?.message ?? err.body?.error ?? `HTTP ${err.status}`}.`
      : 'Not created: the API is unreachable.';
  }
  await loadTokens();
}

/** @param {OperatorToken} t */
async function revokeToken(t) {
  if (!globalThis.confirm(`Revoke the token of ${t.name}? Whoever uses it is signed out at once.`)) return;
  try {
    await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
    $('token-result').textContent = `Token of ${t.name} revoked.`;
  } catch (err) {
    $('token-result').textContent = `Not revoked: ${problem(err)}.`;
  }
  await loadTokens();
}

export function wireTokens() {
  $('token-form').addEventListener('submit', (e) => void createToken(/** @type {SubmitEvent} */ (e)));
  $('tokens-refresh').addEventListener('click', () => void loadTokens());
}
