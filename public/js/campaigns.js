// @ts-check
// The campaign controls card: the campaign select (GET /campaigns), the create / edit form (the
// fields of _shared/campaign-schema.ts; an edit sends only what changed, a refusal is shown next to
// its field), pause / resume / cancel after a preview of what happens, and the contacts export.

import { api, apiProblem, download, HttpError } from './api.js';
import { loadAudit } from './audit.js';
import { setCampaignAccounts } from './campaign-list.js';
import { datesBody, fillDates } from './dates.js';
import { $, input, option, showResult } from './dom.js';
import { fmtInt, plural } from './format.js';
import { refresh } from './refresh.js';

/** @typedef {import('../../supabase/functions/_shared/campaign-schema.ts').CampaignCreate} CampaignCreate */
/** @typedef {import('../../supabase/functions/_shared/campaign-schema.ts').CampaignAction} CampaignAction */
/** @typedef {import('./api.js').ErrorBody} ErrorBody */
/**
 * @typedef {CampaignCreate & { id: string, status: string, paused_reason?: string | null,
 *   provider_settings?: Record<string, unknown> }} CampaignRow
 */
/**
 * @typedef {{ allowed: boolean, reason: string | null, status: string, status_after: string | null,
 *   queued_calls_released: number, active_calls_finishing: number, pending_contacts_ended: number,
 *   pending_contacts: number }} ActionPreview
 */

const FORM_FIELDS = /** @type {const} */ ([
  'name',
  'max_concurrent_calls',
  'priority',
  'provider_account',
  'caller_id',
  'time_zone',
  'window_start',
  'window_end',
  'max_attempts',
  'retry_busy_delay',
  'retry_no_answer_delay',
  'retry_machine_delay',
  'retry_failed_delay',
  'machine_answer_policy',
]);
/** Select fields whose empty choice means null (on an edit: clear it). */
const NULLABLE_SELECTS = ['purpose'];
const NUMBER_FIELDS = new Set(['max_concurrent_calls', 'priority', 'max_attempts']);
/** The retry rules' on/off boxes (checked: that outcome is retried; the table's default is on). */
const RETRY_SWITCHES = /** @type {const} */ (['retry_busy', 'retry_no_answer', 'retry_failed']);
// What answers the call: a TwiML URL / inline TwiML / application (Twilio, SignalWire), a Vapi
// assistant (with the Vapi phone number it calls from), a Retell agent.
const ACTION_KINDS = ['url', 'twiml', 'application_sid', 'assistant_id', 'agent_id'];

/**
 * @type {{ campaigns: CampaignRow[], editing: string | null, loaded: Record<string, unknown>,
 *   pendingAction: CampaignAction | null }}
 */
const controls = { campaigns: [], editing: null, loaded: {}, pendingAction: null };
/** The provider_settings of the campaign being edited: keys the form does not show are kept. */
let loadedSettings = /** @type {Record<string, unknown>} */ ({});

/** @param {string} text @param {string} [tone] */
export const controlsResult = (text, tone) => showResult('controls-result', text, tone);

export function selectedCampaignId() {
  return /** @type {HTMLSelectElement} */ ($('campaign-select')).value;
}

export async function loadCampaigns() {
  try {
    const { campaigns } = /** @type {{ campaigns: CampaignRow[] }} */ (await api('GET', '/campaigns'));
    controls.campaigns = campaigns;
    const select = /** @type {HTMLSelectElement} */ ($('campaign-select'));
    const keep = select.value;
    select.replaceChildren(...campaigns.map((c) => option(`${c.name} (#${c.id}, ${c.status.toLowerCase()})`, String(c.id))));
    if (campaigns.some((c) => String(c.id) === keep)) select.value = keep;
    setCampaignAccounts(campaigns);
  } catch (err) {
    controlsResult(`Cannot list the campaigns: ${apiProblem(err)}.`, 'bad');
  }
}

function clearFieldErrors() {
  for (const node of document.querySelectorAll('#campaign-form .field-error')) node.textContent = '';
}

/** @param {ErrorBody | null} body */
function showFieldErrors(body) {
  const issues = body?.issues ?? (body?.field ? [{ field: body.field, message: body.message ?? 'refused' }] : []);
  for (const i of issues) {
    const field = i.field.split('.')[0] ?? '';
    const target = document.getElementById(`err-${field}`) ?? $('err-form');
    target.textContent = target.textContent ? `${target.textContent}; ${i.message}` : i.message;
  }
  if (issues.length === 0) $('err-form').textContent = body?.message ?? body?.error ?? 'refused';
}

/** @param {CampaignRow | null} c */
function fillForm(c) {
  clearFieldErrors();
  controls.editing = c ? String(c.id) : null;
  $('campaign-form-title').textContent = c ? `Edit campaign #${c.id}` : 'New campaign';
  $('campaign-save').textContent = c ? 'Save changes' : 'Create campaign';
  for (const f of FORM_FIELDS) {
    const v = c ? /** @type {Record<string, unknown>} */ (c)[f] : undefined;
    const shown = v === null || v === undefined ? '' : String(v);
    input(`f-${f}`).value = f.startsWith('window_') ? shown.replace(/^(\d\d:\d\d):00$/, '$1') : shown;
  }
  if (!c) input('f-machine_answer_policy').value = 'retry';
  for (const f of RETRY_SWITCHES) input(`f-${f}`).checked = c ? /** @type {Record<string, unknown>} */ (c)[f] !== false : true;
  const settings = c?.provider_settings ?? {};
  loadedSettings = { ...settings };
  const kind = ACTION_KINDS.find((k) => typeof settings[k] === 'string' && settings[k] !== '') ?? '';
  /** @type {HTMLSelectElement} */ ($('f-action_kind')).value = kind;
  input('f-action_value').value = kind ? String(settings[kind]) : '';
  const md = settings.machine_detection === true ? 'Enable' : String(settings.machine_detection ?? '');
  input('f-machine_detection').value = ['Enable', 'DetectMessageEnd'].find((v) => v.toLowerCase() === md.toLowerCase()) ?? '';
  input('f-ring_timeout').value = settings.timeout === undefined || settings.timeout === null ? '' : String(settings.timeout);
  for (const f of NULLABLE_SELECTS) {
    const v = c ? /** @type {Record<string, unknown>} */ (c)[f] : null;
    input(`f-${f}`).value = typeof v === 'string' ? v : '';
  }
  input('f-requires_consent').checked = c?.requires_consent === true;
  input('f-phone_number_id').value = typeof settings.phone_number_id === 'string' ? settings.phone_number_id : '';
  const days = new Set((c?.window_days ?? []).map(String));
  for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('#campaign-form input[name=day]'))) {
    box.checked = days.has(box.value);
  }
  fillDates(/** @type {Record<string, unknown> | null} */ (c));
  // An edit sends only what the operator changed (the row's own spelling of an interval or a
  // time stays as it is).
  controls.loaded = formBody();
}

/** The form as a request body: only the fields given (the table's defaults for the rest). */
function formBody() {
  /** @type {Record<string, unknown>} */
  const body = {};
  for (const f of FORM_FIELDS) {
    const raw = input(`f-${f}`).value.trim();
    if (raw === '') {
      if (f === 'caller_id' && controls.editing) body[f] = null;
      continue;
    }
    // A number field that is not a number goes as it is typed: the schema names the field.
    body[f] = NUMBER_FIELDS.has(f) && raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  for (const f of NULLABLE_SELECTS) {
    const v = input(`f-${f}`).value;
    if (v) body[f] = v;
    else if (controls.editing) body[f] = null;
  }
  body.requires_consent = input('f-requires_consent').checked;
  // provider_settings is replaced as a whole: start from the campaign's own (keys this form does
  // not show stay), then the call action and the options as the form says.
  for (const f of RETRY_SWITCHES) body[f] = input(`f-${f}`).checked;
  const kind = /** @type {HTMLSelectElement} */ ($('f-action_kind')).value;
  const value = input('f-action_value').value.trim();
  const settings = { ...loadedSettings };
  for (const k of ACTION_KINDS) delete settings[k];
  if (kind) settings[kind] = value;
  const phoneNumberId = input('f-phone_number_id').value.trim();
  if (phoneNumberId) settings.phone_number_id = phoneNumberId;
  else delete settings.phone_number_id;
  const md = input('f-machine_detection').value;
  if (md) settings.machine_detection = md;
  else delete settings.machine_detection;
  const ring = input('f-ring_timeout').value.trim();
  // Not a number: sent as typed, and the schema or the dial names it.
  if (ring) settings.timeout = /^[0-9]+$/.test(ring) ? Number(ring) : ring;
  else delete settings.timeout;
  if (Object.keys(settings).length > 0 || Object.keys(loadedSettings).length > 0) body.provider_settings = settings;
  const days = [...document.querySelectorAll('#campaign-form input[name=day]')]
    .filter((b) => /** @type {HTMLInputElement} */ (b).checked)
    .map((b) => Number(/** @type {HTMLInputElement} */ (b).value));
  if (days.length > 0 || controls.editing) body.window_days = days;
  Object.assign(body, datesBody(Boolean(controls.editing)));
  return body;
}

/** @param {SubmitEvent} event */
async function saveCampaign(event) {
  event.preventDefault();
  clearFieldErrors();
  const editing = controls.editing;
  const body = formBody();
  if (editing) {
    for (const [k, v] of Object.entries(body)) {
      if (JSON.stringify(v) === JSON.stringify(controls.loaded[k])) delete body[k];
    }
  }
  try {
    const row = /** @type {CampaignRow} */ (
      editing
        ? await api('PATCH', `/campaigns/${encodeURIComponent(editing)}`, undefined, body)
        : await api('POST', '/campaigns', undefined, body)
    );
    controlsResult(`Campaign ${row.name} (#${row.id}) ${editing ? 'saved' : 'created'}.`, 'good');
    await loadCampaigns();
    /** @type {HTMLSelectElement} */ ($('campaign-select')).value = String(row.id);
    fillForm(editing ? row : null);
    void refresh();
    void loadAudit();
  } catch (err) {
    if (err instanceof HttpError && err.status === 400) showFieldErrors(err.body);
    else $('err-form').textContent = `Not saved: ${apiProblem(err)}.`;
  }
}

function editSelected() {
  const c = controls.campaigns.find((x) => String(x.id) === selectedCampaignId());
  if (c) fillForm(c);
}

/** @param {CampaignAction} action */
async function previewAction(action) {
  const id = selectedCampaignId();
  if (!id) return controlsResult('Choose a campaign first.', 'warn');
  try {
    const p = /** @type {ActionPreview} */ (
      await api('GET', `/campaigns/${encodeURIComponent(id)}/preview-action?action=${action}`)
    );
    if (!p.allowed) {
      controlsResult(`Cannot ${action}: ${p.reason ?? `the campaign is ${p.status.toLowerCase()}`}.`, 'warn');
      return;
    }
    const name = controls.campaigns.find((x) => String(x.id) === id)?.name ?? `#${id}`;
    const lines = [
      `${action[0]?.toUpperCase()}${action.slice(1)} ${name}: ${p.status.toLowerCase()} → ${
        String(p.status_after).toLowerCase()
      }.`,
      `${fmtInt(p.queued_calls_released)} queued call${plural(p.queued_calls_released)} released,`,
      `${fmtInt(p.active_calls_finishing)} active call${plural(p.active_calls_finishing)} finishing,`,
      `${fmtInt(p.pending_contacts_ended)} of ${fmtInt(p.pending_contacts)} pending contacts ended.`,
    ];
    controls.pendingAction = action;
    $('action-confirm-text').textContent = lines.join(' ');
    $('action-confirm-yes').textContent = `Confirm ${action}`;
    $('action-confirm').hidden = false;
    $('action-confirm-yes').focus();
  } catch (err) {
    controlsResult(`Cannot ${action}: ${apiProblem(err)}.`, 'bad');
  }
}

async function confirmAction() {
  const action = controls.pendingAction;
  const id = selectedCampaignId();
  $('action-confirm').hidden = true;
  controls.pendingAction = null;
  if (!action || !id) return;
  try {
    const r = /** @type {{ campaign: CampaignRow, queued_calls_released: number, active_calls_finishing: number,
       *   pending_contacts_ended: number }} */
      (await api('POST', `/campaigns/${encodeURIComponent(id)}/${action}`));
    controlsResult(
      `${r.campaign.name} is ${r.campaign.status.toLowerCase()}: ${fmtInt(r.queued_calls_released)} queued calls released, ` +
        `${fmtInt(r.active_calls_finishing)} active calls finishing, ${fmtInt(r.pending_contacts_ended)} pending contacts ended.`,
      'good',
    );
  } catch (err) {
    controlsResult(`Not done: ${apiProblem(err)}.`, 'bad');
  }
  await loadCampaigns();
  void refresh();
  void loadAudit();
}

async function exportCsv() {
  const id = selectedCampaignId();
  if (!id) return controlsResult('Choose a campaign first.', 'warn');
  try {
    await download(`/campaigns/${encodeURIComponent(id)}/export`, `campaign-${id}-contacts.csv`);
    controlsResult(`Exported the contacts of campaign #${id}.`, 'good');
  } catch (err) {
    controlsResult(`Export failed: ${apiProblem(err)}.`, 'bad');
  }
}

export function wireCampaigns() {
  $('campaign-form').addEventListener('submit', (e) => void saveCampaign(/** @type {SubmitEvent} */ (e)));
  $('campaign-new').addEventListener('click', () => fillForm(null));
  $('campaign-edit').addEventListener('click', editSelected);
  for (const b of document.querySelectorAll('[data-action]')) {
    const action = /** @type {CampaignAction} */ (/** @type {HTMLElement} */ (b).dataset.action);
    b.addEventListener('click', () => void previewAction(action));
  }
  $('action-confirm-yes').addEventListener('click', () => void confirmAction());
  $('action-confirm-no').addEventListener('click', () => {
    $('action-confirm').hidden = true;
    controls.pendingAction = null;
  });
  $('campaign-select').addEventListener('change', () => {
    $('action-confirm').hidden = true;
  });
  $('campaign-export').addEventListener('click', () => void exportCsv());
}
