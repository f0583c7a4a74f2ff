// @ts-check
// The sign-in form and the sign-out button: a credential is tried with GET /status before it is
// kept (session.js says why one was refused); the status loop starts from that first answer.

import { api } from './api.js';
import { $ } from './dom.js';
import { applyStatus, markUpdated, scheduleRefresh } from './refresh.js';
import { credentialRefused, keepToken, signOut } from './session.js';
import { state } from './state.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').StatusPayload} StatusPayload */

/** @param {SubmitEvent} event */
async function signIn(event) {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  const token = input.value.trim();
  if (!token) {
    $('login-error').textContent = 'Enter the admin token, an operator token or a Supabase session.';
    return;
  }
  const submit = /** @type {HTMLButtonElement} */ (event.submitter ?? $('login-form').querySelector('button'));
  submit.disabled = true;
  try {
    const data = /** @type {StatusPayload} */ (await api('GET', '/status', token));
    keepToken(token);
    input.value = '';
    $('login-error').textContent = '';
    applyStatus(data);
    state.lastRefreshAt = Date.now();
    scheduleRefresh();
    markUpdated();
  } catch (err) {
    input.setAttribute('aria-invalid', 'true');
    $('login-error').textContent = credentialRefused(err, 'That admin token was refused.') ??
      `Cannot reach the scheduler API at ${state.functionsUrl}.`;
  } finally {
    submit.disabled = false;
  }
}

export function wireLogin() {
  $('login-form').addEventListener('submit', (e) => void signIn(/** @type {SubmitEvent} */ (e)));
  $('sign-out').addEventListener('click', () => signOut());
}
