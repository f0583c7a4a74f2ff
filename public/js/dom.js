// @ts-check
// DOM helpers shared by every panel: element lookup, element building (text only: everything from
// the server is set with textContent, never as HTML), status badges, buttons, options, a table's
// rows with its "nothing here" note, a panel's result line, and saving a file the browser received.

import { toneOf } from './format.js';

/** @param {string} id @returns {HTMLElement} */
export const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
};

/** @param {string} id */
export const input = (id) => /** @type {HTMLInputElement} */ ($(id));

/**
 * @param {string} tag
 * @param {{ className?: string, text?: unknown, title?: string, testid?: string }} [opts]
 * @param {Array<Node | string>} [children]
 */
export function el(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.text !== undefined) node.textContent = String(opts.text);
  if (opts.title) node.title = opts.title;
  if (opts.testid) node.dataset.testid = opts.testid;
  for (const c of children) node.append(c);
  return node;
}

/** @param {HTMLElement} el @param {string | null | undefined} value @param {string} [label] */
export function badge(el, value, label) {
  el.textContent = label ?? (value ? String(value).replace(/_/g, ' ').toLowerCase() : '–');
  el.className = `badge ${el.classList.contains('large') ? 'large ' : ''}tone-${toneOf(value)}`;
}

/** A new badge (a span) for a status value. @param {string | null | undefined} value */
export function badgeFor(value) {
  const span = el('span');
  badge(span, value);
  return span;
}

/** A ghost button of a table row. @param {string} text @param {string} testid @param {() => void} onClick */
export function rowButton(text, testid, onClick) {
  const b = el('button', { className: 'button ghost', text, testid });
  b.setAttribute('type', 'button');
  b.addEventListener('click', onClick);
  return b;
}

/** @param {string} text @param {string} value */
export function option(text, value) {
  const o = /** @type {HTMLOptionElement} */ (el('option', { text }));
  o.value = value;
  return o;
}

/** @param {string} tableId */
export const tableBody = (tableId) => /** @type {HTMLTableSectionElement} */ ($(tableId).querySelector('tbody'));

/**
 * Replaces a table's rows; its "nothing here" note (emptyId) shows when there are none.
 * @template T
 * @param {string} tableId @param {T[]} items @param {(item: T) => HTMLElement} row @param {string} [emptyId]
 */
export function fillTable(tableId, items, row, emptyId) {
  tableBody(tableId).replaceChildren(...items.map(row));
  if (emptyId) $(emptyId).hidden = items.length > 0;
}

/** A list's note shown with a message (why it could not be loaded). @param {string} id @param {string} text */
export function showNote(id, text) {
  $(id).hidden = false;
  $(id).textContent = text;
}

/** A panel's result line, in a tone. @param {string} id @param {string} text @param {string} [tone] */
export function showResult(id, text, tone = 'neutral') {
  const out = $(id);
  out.className = `trigger-result tone-${tone}`;
  out.textContent = text;
}

/** Has the browser save a file received from the API. @param {Blob} blob @param {string} filename */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = /** @type {HTMLAnchorElement} */ (el('a'));
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
