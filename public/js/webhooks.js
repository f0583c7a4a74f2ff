// @ts-check
// The "Outcome webhooks" card (scheduler-admin /webhooks): the endpoints with their events, state
// and delivery counts; its form adds one (the signing secret is shown once, under the form); each
// row can show its delivery log, be disabled or enabled, have its dead deliveries replayed, or be
// deleted. Admins change things; viewers read the endpoints and the log.

import { api, apiProblem } from './api.js';
import { loadAudit } from './audit.js';
import { $, badgeFor, el, fillTable, input, rowButton, showResult } from './dom.js';
import { fmtDateTime, fmtInt } from './format.js';
import { gate } from './roles.js';

/**
 * @typedef {{ id: string, url: string, events: string[], description: string | null, enabled: boolean,
 *   pending: number, dead: number, delivered: number }} WebhookEndpoint
 * @typedef {{ attempt: number, started_at: string, status_code: number | null, error: string | null }} DeliveryAttempt
 * @typedef {{ id: string, event_id: string, event_type: string, status: string, attempts: number,
 *   next_attempt_at: string | null, last_status_code: number | null, last_error: string | null,
 *   log: DeliveryAttempt[] }} WebhookDelivery
 */

/** @type {{ loads: number, shown: string | null }} */
const view = { loads: 0, shown: null };

/** @param {string} text @param {string} [tone] */
const result = (text, tone) => showResult('webhook-result', text, tone);

export async function loadWebhooks() {
  const load = ++view.loads;
  try {
    const { endpoints } = /** @type {{ endpoints: WebhookEndpoint[] }} */ (await api('GET', '/webhooks'));
    if (load !== view.loads) return; // a later load (after a change) answers instead
    fillTable('webhooks-table', endpoints, endpointRow, 'no-webhooks');
    if (view.shown && !endpoints.some((e) => e.id === view.shown)) hideDeliveries();
  } catch (err) {
    result(`Cannot list the webhook endpoints: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {WebhookEndpoint} e */
function endpointRow(e) {
  const name = el('th', { className: 'mono', text: e.url });
  name.setAttribute('scope', 'row');
  if (e.description) name.append(el('div', { className: 'muted', text: e.description }));
  const actions = el('td', {}, [
    rowButton('Deliveries', `webhook-log-${e.id}`, () => void showDeliveries(e.id)),
    gate(
      rowButton(e.enabled ? 'Disable' : 'Enable', `webhook-toggle-${e.id}`, () => void setEnabled(e, !e.enabled)),
      'admin',
    ),
  ]);
  if (e.dead > 0) {
    actions.append(gate(rowButton('Replay dead', `webhook-replay-${e.id}`, () => void replay(e.id, null)), 'admin'));
  }
  actions.append(gate(rowButton('Delete', `webhook-delete-${e.id}`, () => void remove(e)), 'admin'));
  return el('tr', { testid: `webhook-${e.id}` }, [
    name,
    el('td', { text: e.events.join(', ') }),
    el('td', {}, [badgeFor(e.enabled ? 'enabled' : 'disabled')]),
    el('td', { text: `${fmtInt(e.delivered)} delivered, ${fmtInt(e.pending)} pending, ${fmtInt(e.dead)} dead` }),
    actions,
  ]);
}

/** The endpoint's delivery log under the table. @param {string} id */
async function showDeliveries(id) {
  view.shown = id;
  try {
    const { deliveries } = /** @type {{ deliveries: WebhookDelivery[] }} */ (
      await api('GET', `/webhooks/${encodeURIComponent(id)}/deliveries?limit=50`)
    );
    if (view.shown !== id) return;
    fillTable('webhook-deliveries-table', deliveries, (d) => deliveryRow(id, d), 'no-webhook-deliveries');
    $('webhook-deliveries').hidden = false;
  } catch (err) {
    result(`Cannot read the delivery log: ${apiProblem(err)}.`, 'bad');
  }
}

function hideDeliveries() {
  view.shown = null;
  $('webhook-deliveries').hidden = true;
}

/** @param {string} endpointId @param {WebhookDelivery} d */
function deliveryRow(endpointId, d) {
  const last = d.log[d.log.length - 1];
  const answer = !last ? '–' : last.status_code !== null ? `HTTP ${last.status_code}` : (last.error ?? 'no answer');
  const lastCell = el('td', { text: answer });
  if (last) lastCell.append(el('div', { className: 'muted', text: fmtDateTime(last.started_at) }));
  if (d.next_attempt_at) lastCell.append(el('div', { className: 'muted', text: `next ${fmtDateTime(d.next_attempt_at)}` }));
  const event = el('th', { text: d.event_type });
  event.setAttribute('scope', 'row');
  event.append(el('div', { className: 'muted mono', text: d.event_id }));
  return el('tr', { testid: `webhook-delivery-${d.id}` }, [
    event,
    el('td', {}, [badgeFor(d.status)]),
    el('td', { className: 'num', text: fmtInt(d.attempts) }),
    lastCell,
    el('td', {}, [gate(rowButton('Replay', `webhook-delivery-replay-${d.id}`, () => void replay(endpointId, d.id)), 'admin')]),
  ]);
}

/** @param {SubmitEvent} event */
async function addEndpoint(event) {
  event.preventDefault();
  const events = [.../** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('input[name="webhook-event"]'))]
    .filter((c) => c.checked)
    .map((c) => c.value);
  const description = input('webhook-description').value.trim();
  const secret = input('webhook-secret').value.trim();
  const body = {
    url: input('webhook-url').value.trim(),
    events,
    ...(description ? { description } : {}),
    ...(secret ? { secret } : {}),
  };
  $('webhook-secret-shown').hidden = true;
  try {
    const e = /** @type {WebhookEndpoint & { secret: string }} */ (await api('POST', '/webhooks', undefined, body));
    result(`Endpoint ${e.url} added (#${e.id}).`, 'good');
    $('webhook-secret-value').textContent = e.secret;
    $('webhook-secret-shown').hidden = false;
    /** @type {HTMLFormElement} */ ($('webhook-form')).reset();
  } catch (err) {
    result(`Not added: ${apiProblem(err)}.`, 'bad');
  }
  await loadWebhooks();
  void loadAudit();
}

/** @param {WebhookEndpoint} e @param {boolean} enabled */
async function setEnabled(e, enabled) {
  try {
    await api('PATCH', `/webhooks/${encodeURIComponent(e.id)}`, undefined, { enabled });
    result(`Endpoint ${e.url} ${enabled ? 'enabled' : 'disabled'}.`, 'good');
  } catch (err) {
    result(`Not changed: ${apiProblem(err)}.`, 'bad');
  }
  await loadWebhooks();
  void loadAudit();
}

/** @param {string} endpointId @param {string | null} deliveryId */
async function replay(endpointId, deliveryId) {
  try {
    const r = /** @type {{ replayed: number }} */ (
      await api(
        'POST',
        `/webhooks/${encodeURIComponent(endpointId)}/replay`,
        undefined,
        deliveryId ? { delivery_id: deliveryId } : {},
      )
    );
    result(`${fmtInt(r.replayed)} deliver${r.replayed === 1 ? 'y' : 'ies'} queued again.`, 'good');
  } catch (err) {
    result(`Not replayed: ${apiProblem(err)}.`, 'bad');
  }
  await loadWebhooks();
  if (view.shown === endpointId) await showDeliveries(endpointId);
  void loadAudit();
}

/** @param {WebhookEndpoint} e */
async function remove(e) {
  if (!globalThis.confirm(`Delete the webhook endpoint ${e.url} and its delivery log?`)) return;
  try {
    await api('DELETE', `/webhooks/${encodeURIComponent(e.id)}`);
    result(`Endpoint ${e.url} deleted.`, 'good');
  } catch (err) {
    result(`Not deleted: ${apiProblem(err)}.`, 'bad');
  }
  await loadWebhooks();
  void loadAudit();
}

export function wireWebhooks() {
  $('webhook-form').addEventListener('submit', (e) => void addEndpoint(/** @type {SubmitEvent} */ (e)));
  $('webhooks-refresh').addEventListener('click', () => {
    void loadWebhooks();
    if (view.shown) void showDeliveries(view.shown);
  });
}
