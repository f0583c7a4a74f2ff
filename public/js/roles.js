// @ts-check
// What the signed-in role may use. The API decides (every route names the role it needs and answers
// 403 with needed_role below it); the dashboard only follows: a control marked
// data-needs-role="operator" | "admin" is disabled, with a title and the role note saying why, for a
// lower role; an element also marked data-role-hide is hidden instead (a panel the role cannot even
// read). Until the role is known (GET /whoami not answered yet) nothing is held back.

import { $ } from './dom.js';
import { state } from './state.js';

/** @typedef {'viewer' | 'operator' | 'admin'} Role */

/** @type {readonly Role[]} */
export const ROLES = ['viewer', 'operator', 'admin'];

/** @param {string} role */
const rank = (role) => ROLES.indexOf(/** @type {Role} */ (role));

/** Does the signed-in role cover `needed`? True while the role is not known. @param {Role} needed */
export const canDo = (needed) => !state.role || rank(state.role) >= rank(needed);

/** The roles the signed-in credential may give a token: its own and those below it. */
export const grantableRoles = () => ROLES.filter((r) => canDo(r));

/** 'a viewer', 'an operator', 'an admin'. @param {string} role */
export const aRole = (role) => `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;

/** @param {Role} needed */
const whyNot = (needed) => `Needs the ${needed} role; you are signed in as ${aRole(state.role)}.`;

/**
 * Disables a control the role cannot use (title and the role note say why), or enables it again.
 * @template {HTMLElement} E
 * @param {E} control @param {Role} needed
 * @returns {E}
 */
export function gate(control, needed) {
  const allowed = canDo(needed);
  if ('disabled' in control) control.disabled = !allowed;
  if (!allowed) {
    control.dataset.roleGated = needed;
    control.title = whyNot(needed);
    control.setAttribute('aria-describedby', 'role-note');
  } else if (control.dataset.roleGated) {
    delete control.dataset.roleGated;
    control.removeAttribute('title');
    control.removeAttribute('aria-describedby');
  }
  return control;
}

/** Applies the role to every marked element of the page, and says what is held back. */
export function applyRole() {
  for (const node of document.querySelectorAll('[data-needs-role]')) {
    const element = /** @type {HTMLElement} */ (node);
    const needed = /** @type {Role} */ (element.dataset.needsRole);
    if ('roleHide' in element.dataset) {
      element.hidden = !canDo(needed);
      continue;
    }
    const controls = element.matches('button, input, select, textarea')
      ? [element]
      : [...element.querySelectorAll('button, input, select, textarea')];
    for (const c of controls) gate(/** @type {HTMLElement} */ (c), needed);
  }
  const note = $('role-note');
  note.textContent = roleNote();
  note.hidden = !note.textContent;
}

function roleNote() {
  if (state.role === 'viewer') {
    return 'You are signed in as a viewer: everything here is read-only. Running campaigns, contacts, the ' +
      'do-not-call list and manual ticks need the operator role; tokens and provider accounts need the admin role.';
  }
  if (state.role === 'operator') {
    return 'You are signed in as an operator: operator tokens are not shown and provider accounts are ' +
      'read-only (both need the admin role).';
  }
  return '';
}
