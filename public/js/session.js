// @ts-check
// Sign-in state and what it shows: the sign-in form or the dashboard, signing out (the credential
// is forgotten), the banner, and the words for a refused credential. The form takes any operator
// credential: the admin token, a named operator token (op_...) or a Supabase Auth session (an access
// token: HS256 or, with the project's JWKS, ES256 / RS256). 401: not a credential (the API says why
// only for a validly signed session: expired...); 403: a signed-in Supabase user without a
// scheduler role. A 403 naming needed_role is not a refused credential: the credential is good, its
// role is too low for that one request (the panel says so; the operator stays signed in). Once signed
// in, GET /whoami says who the credential is and its role: shown in the header, and the controls the
// role cannot use are held back (roles.js). The panels register what they load when the dashboard is
// shown (onDashboardShown); they load once the role is known.

import { api, HttpError } from './api.js';
import { $ } from './dom.js';
import { applyRole, ROLES } from './roles.js';
import { state, TOKEN_KEY } from './state.js';

/** @type {Array<() => unknown>} */
const shownLoaders = [];
/** GET /whoami in flight (one at a time). */
let identityPending = false;

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
  if (state.role) {
    for (const load of shownLoaders) void load();
    return;
  }
  if (identityPending) return;
  identityPending = true;
  void loadIdentity().then((signedIn) => {
    identityPending = false;
    if (signedIn) { for (const load of shownLoaders) void load(); }
  });
}

/** The header's "signed in as": the actor and its role, or nothing. */
function showIdentity() {
  const who = $('whoami');
  who.hidden = !state.role;
  $('whoami-actor').textContent = state.actor;
  $('whoami-role').textContent = state.role;
}

/**
 * GET /whoami: who the credential is and its role, shown in the header and applied to the controls.
 * Answers false when the credential was refused (signed out); when the API cannot say, the role stays
 * unknown (nothing held back: the API still refuses what the role cannot do) and is asked again at the
 * next refresh.
 */
async function loadIdentity() {
  const token = state.token;
  try {
    const me = /** @type {{ actor: string, role: string }} */ (await api('GET', '/whoami'));
    if (state.token !== token) return false; // signed out (or in again) meanwhile
    state.actor = String(me.actor ?? '');
    state.role = ROLES.includes(/** @type {any} */ (me.role)) ? /** @type {any} */ (me.role) : 'viewer';
  } catch (err) {
    if (signOutIfRefused(err)) return false;
  }
  showIdentity();
  applyRole();
  return true;
}

/** Keeps the credential for this tab. @param {string} token */
export function keepToken(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  state.actor = '';
  state.role = '';
  showIdentity();
  showLogin(message);
}

/** A 403 for a role too low for that request (the body names needed_role). @param {unknown} err */
export const refusedForRole = (err) => err instanceof HttpError && err.status === 403 && Boolean(err.body?.needed_role);

/**
 * What to tell the operator when the API refused the credential, or null when it did not.
 * @param {unknown} err
 * @param {string} fallback the message for a refused token the API says nothing about
 * @returns {string | null}
 */
export function credentialRefused(err, fallback) {
  if (!(err instanceof HttpError) || refusedForRole(err)) return null;
  if (err.status === 403) {
    return "That Supabase user does not hold a scheduler role (app_metadata.role 'viewer', 'operator' or 'admin'): " +
      'ask an admin to grant one.';
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
