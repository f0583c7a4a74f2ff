// @ts-check
// Sign-in state and what it shows: the sign-in form or the dashboard, signing out (the credential
// is forgotten), the banner, and the words for a refused credential. The form takes any operator
// credential: the admin token, a named operator token (op_...) or a Supabase Auth session (an access
// token: HS256 or, with the project's JWKS, ES256 / RS256). 401: not a credential (the API says why
// only for a validly signed session: expired...); 403: a signed-in Supabase user without the
// operator role. The panels register what they load when the dashboard is shown (onDashboardShown).

import { HttpError } from './api.js';
import { $ } from './dom.js';
import { state, TOKEN_KEY } from './state.js';

/** @type {Array<() => unknown>} */
const shownLoaders = [];

/** Runs loader (in the order registered) each time the dashboard is shown. @param {() => unknown} loader */
export function onDashboardShown(loader) {
  shownLoaders.push(loader);
}

/** @param {string} message */
export function showBanner(message) {
  const banner = $('banner');
  banner.textContent = message;
  banner.hidden = !message;
}

export function showLogin(message = '') {
  clearTimeout(state.refreshTimer);
  state.status = null;
  $('dashboard').hidden = true;
  $('login').hidden = false;
  $('sign-out').hidden = true;
  $('refresh-note').textContent = 'Not signed in';
  $('login-error').textContent = message;
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  input.setAttribute('aria-invalid', message ? 'true' : 'false');
  input.focus();
}

export function showDashboard() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('sign-out').hidden = false;
  for (const load of shownLoaders) void load();
}

/** Keeps the credential for this tab. @param {string} token */
export function keepToken(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  showLogin(message);
}

/**
 * What to tell the operator when the API refused the credential, or null when it did not.
 * @param {unknown} err
 * @param {string} fallback the message for a refused token the API says nothing about
 * @returns {string | null}
 */
export function credentialRefused(err, fallback) {
  if (!(err instanceof HttpError)) return null;
  if (err.status === 403) {
    return "That Supabase user does not hold the operator role (app_metadata.role 'operator'): ask an admin to grant it.";
  }
  if (err.status !== 401) return null;
  const why = err.body?.message;
  if (why === 'session expired') return 'That Supabase session has expired: sign in again with a new one.';
  return why ? `That session was refused: ${why}.` : fallback;
}

/** Signs out, saying why, when err is a refused credential; answers whether it did. @param {unknown} err */
export function signOutIfRefused(err) {
  const refused = credentialRefused(err, 'The admin token was refused. Check it and sign in again.');
  if (refused) signOut(refused);
  return refused !== null;
}
