// @ts-check
// The "Find a person" panel: one phone number's story (GET /contacts?phone= or GET /contacts/<id>,
// contact_story in the database), for every role. A query of digits only is a contact id; anything
// else is a number (spaces, dashes and parentheses are ignored by the API). Shows the number and its
// do-not-call entry, then each contact with that number (newest first): its campaign, status,
// attempts, why it is not called now and until when (the browser's local time), and a table of its
// attempts, each with the evidence of what allowed the call (zones, their source, matching rules).
// Per contact a small form schedules a callback (PUT .../callback {at}; operators and admins): the
// time is typed in the browser's zone and sent as an instant.

import { api, apiProblem, HttpError } from './api.js';
import { $, badgeFor, el, input, showResult } from './dom.js';
import { fmtDateTime, fmtInt } from './format.js';
import { state } from './state.js';
import { gate } from './roles.js';

/**
 * @typedef {{ id: number | string, prefix: string, from: string, until: string }} EvidenceRule
 * @typedef {{ checked_at: string, zone_source: string, number_prefix: string | null, zones: string[],
 *   rules: EvidenceRule[] }} DialEvidence
 * @typedef {{ id: string, attempt: number, status: string, queued_at: string | null, dialed_at: string | null,
 *   provider_accepted_at: string | null, ringing_at: string | null, answered_at: string | null,
 *   ended_at: string | null, released_at: string | null, duration_seconds: number | null,
 *   answered_by: string | null, error: string | null, error_code: string | null, provider: string | null,
 *   provider_call_id: string | null, evidence: DialEvidence | null }} StoryCall
 * @typedef {{ reason: string, detail: string | null, until: string | null }} WhyNotNow
 * @typedef {{ id: string, campaign_id: string, campaign_name: string, campaign_status: string,
 *   name: string | null, status: string, attempts: number, max_attempts: number,
 *   next_attempt_at: string | null, last_call_status: string | null, last_error: string | null,
 *   priority?: number, callback_at?: string | null,
 *   time_zone: string | null, created_at: string, why_not_now: WhyNotNow | null,
 *   calls: StoryCall[] }} StoryContact
 * @typedef {{ reason: string | null, added_at: string, added_by: string | null }} StoryDoNotCall
 * @typedef {{ phone: string, do_not_call: StoryDoNotCall | null, contacts: StoryContact[] }} ContactStory
 */

/** Which search is shown (a later one wins) and for which credential (another sign-in clears it). */
const personView = { searches: 0, token: '' };

/** @param {string} text @param {string} [tone] */
const personResult = (text, tone) => showResult('person-result', text, tone);

/** A local date and time, '–' for none. @param {string | null | undefined} iso */
const when = (iso) => (iso ? fmtDateTime(iso) : '–');

/** '08:00:00' as '08:00'. @param {string} t */
const hhmm = (t) => String(t).replace(/^(\d{2}:\d{2}):00$/, '$1');

/** Where the zones of the calling-hours check came from. @param {DialEvidence} e */
function zoneSource(e) {
  const prefix = e.number_prefix ? ` ${e.number_prefix}` : '';
  switch (e.zone_source) {
    case 'number':
      return `from the number's prefix${prefix}`;
    case 'contact':
      return "the contact's own zone";
    case 'contact+number':
      return `the contact's zone and the number's prefix${prefix} (both must allow the call)`;
    case 'campaign':
      return "the campaign's zone: no zone data for the number";
    default:
      return e.zone_source;
  }
}

/** The evidence of one attempt, in a disclosure. @param {StoryCall} call */
function evidenceDetails(call) {
  const e = call.evidence;
  if (!e) {
    return el('p', {
      className: 'muted',
      testid: 'person-evidence',
      text: `Attempt ${call.attempt}: no dialling evidence (the call was not dialled).`,
    });
  }
  const rules = e.rules.length === 0
    ? [el('li', { text: 'no enabled calling-hours rule matches this number' })]
    : e.rules.map((r) =>
      el('li', {
        testid: 'person-evidence-rule',
        text: `rule ${r.id}: prefix ${r.prefix}, calls from ${hhmm(r.from)} until ${hhmm(r.until)}`,
      })
    );
  const item = (/** @type {string} */ term, /** @type {Array<Node | string>} */ value) =>
    el('div', {}, [el('dt', { text: term }), el('dd', {}, value)]);
  return el('details', { className: 'evidence', testid: 'person-evidence' }, [
    el('summary', { text: `What allowed attempt ${call.attempt}` }),
    el('dl', { className: 'evidence-list' }, [
      item('Checked at', [el('span', { text: when(e.checked_at), title: e.checked_at })]),
      item('Zones', [el('span', { testid: 'person-evidence-zones', text: `${e.zones.join(', ')} (${zoneSource(e)})` })]),
      item('Rules', [el('ul', {}, rules)]),
    ]),
  ]);
}

/** A call's error and its provider code. @param {StoryCall} c */
const callError = (c) => [c.error, c.error_code ? `(code ${c.error_code})` : null].filter(Boolean).join(' ');

/** The attempts of one contact: one row each, then a row with its evidence. @param {StoryContact} contact */
function attemptsTable(contact) {
  const headers = ['Attempt', 'Status', 'Dialled', 'Duration', 'Answered by', 'Provider call id', 'Error'];
  const rows = contact.calls.flatMap((c) => {
    const attempt = el('th', { className: 'num', text: fmtInt(c.attempt) });
    attempt.setAttribute('scope', 'row');
    const row = el('tr', { testid: 'person-call' }, [
      attempt,
      el('td', {}, [badgeFor(c.status)]),
      el('td', { text: when(c.dialed_at), title: c.dialed_at ?? '' }),
      el('td', { className: 'num', text: c.duration_seconds === null ? '–' : `${fmtInt(c.duration_seconds)} s` }),
      el('td', { text: c.answered_by ?? '–' }),
      el('td', { className: 'mono', text: c.provider_call_id ?? '–', title: c.provider ?? '' }),
      el('td', { className: 'wrap', text: callError(c) || '–' }),
    ]);
    row.dataset.callId = c.id;
    const cell = el('td', {}, [evidenceDetails(c)]);
    cell.setAttribute('colspan', String(headers.length));
    return [row, el('tr', { className: 'evidence-row' }, [cell])];
  });
  const head = el(
    'tr',
    {},
    headers.map((h) => {
      const th = el('th', { text: h, className: h === 'Attempt' || h === 'Duration' ? 'num' : '' });
      th.setAttribute('scope', 'col');
      return th;
    }),
  );
  const table = el('table', { testid: 'person-calls' }, [
    el('caption', { className: 'sr-only', text: `Attempts of contact ${contact.id} in ${contact.campaign_name}` }),
    el('thead', {}, [head]),
    el('tbody', {}, rows),
  ]);
  const wrap = el('div', { className: 'table-wrap' }, [table]);
  // Focusable and named, so that the keyboard can scroll a wide table (like the page's other tables).
  wrap.setAttribute('tabindex', '0');
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', `Attempts of contact ${contact.id}`);
  return wrap;
}

/** Why the contact is not called now, and until when (local time). @param {StoryContact} c */
function whyNotNow(c) {
  const w = c.why_not_now;
  if (!w) return `Not waiting to be called (${c.status.replace(/_/g, ' ')}).`;
  const until = w.until ? `, until ${fmtDateTime(w.until)} (your time)` : '';
  return w.reason === 'due' ? `Due now: waiting for a free slot${until}.` : `Not called now: ${w.detail ?? w.reason}${until}.`;
}

/** The "call back at" form of one contact: a local date and time, sent as an instant. @param {StoryContact} c */
function callbackForm(c) {
  const id = `callback-at-${c.id}`;
  const field = /** @type {HTMLInputElement} */ (el('input', { testid: 'person-callback-at' }));
  field.type = 'datetime-local';
  field.id = id;
  field.required = true;
  const label = el('label', { text: 'Call back at (your time)' });
  label.setAttribute('for', id);
  // A viewer sees why it cannot (the API would answer 403).
  const button = gate(
    el('button', { className: 'button', testid: 'person-callback-save', text: 'Schedule callback' }),
    'operator',
  );
  gate(field, 'operator');
  const form = el('form', { className: 'row person-callback', testid: 'person-callback' }, [label, field, button]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const at = new Date(field.value);
    if (!field.value || Number.isNaN(at.getTime())) return personResult('Choose the date and time to call back.', 'warn');
    void (async () => {
      try {
        const path = `/campaigns/${encodeURIComponent(c.campaign_id)}/contacts/${encodeURIComponent(c.id)}/callback`;
        await api('PUT', path, undefined, { at: at.toISOString() });
        await searchPerson(c.id);
        personResult(`Contact ${c.id} will be called back at ${fmtDateTime(at.toISOString())} (your time).`, 'good');
      } catch (err) {
        personResult(`Callback not scheduled: ${apiProblem(err)}.`, 'bad');
      }
    })();
  });
  return form;
}

/** @param {StoryContact} c */
function contactBlock(c) {
  const heading = el('h4', { className: 'person-campaign' }, [
    el('span', { text: c.campaign_name, title: `Campaign ${c.campaign_id}` }),
    ' ',
    badgeFor(c.campaign_status),
  ]);
  const fact = (/** @type {string} */ term, /** @type {Array<Node | string>} */ value, /** @type {string} */ testid) =>
    el('div', {}, [el('dt', { text: term }), el('dd', { testid }, value)]);
  const why = el('p', { className: 'person-why', testid: 'person-why', text: whyNotNow(c) });
  if (c.why_not_now?.until) why.title = c.why_not_now.until;
  const block = el('article', { className: 'person-contact', testid: 'person-contact' }, [
    heading,
    el('dl', { className: 'person-facts' }, [
      fact('Contact', [`${c.id}${c.name ? ` · ${c.name}` : ''}`], 'person-contact-id'),
      fact('Status', [badgeFor(c.status)], 'person-contact-status'),
      fact('Attempts', [`${fmtInt(c.attempts)} of ${fmtInt(c.max_attempts)}`], 'person-attempts'),
      ...(c.callback_at ? [fact('Callback', [`${when(c.callback_at)} (your time)`], 'person-callback-at-shown')] : []),
    ]),
    why,
    ...(['pending', 'in_progress', 'done', 'exhausted'].includes(c.status) ? [callbackForm(c)] : []),
    c.calls.length > 0 ? attemptsTable(c) : el('p', { className: 'muted', text: 'No attempt yet.' }),
  ]);
  block.dataset.contactId = c.id;
  block.dataset.campaign = c.campaign_name;
  return block;
}

/** @param {ContactStory} story */
function renderStory(story) {
  const dnc = story.do_not_call;
  const dncLine = dnc
    ? el('p', {
      className: 'trigger-result tone-bad',
      testid: 'person-dnc',
      text: `On the do-not-call list since ${fmtDateTime(dnc.added_at)}${dnc.reason ? `: ${dnc.reason}` : ''}${
        dnc.added_by ? ` (added by ${dnc.added_by})` : ''
      }.`,
    })
    : el('p', { className: 'muted', testid: 'person-dnc', text: 'Not on the do-not-call list.' });
  $('person-story').replaceChildren(
    el('h3', { className: 'mono person-phone', testid: 'person-phone', text: story.phone }),
    dncLine,
    ...story.contacts.map(contactBlock),
  );
}

/** @param {string} query */
async function searchPerson(query) {
  const search = ++personView.searches;
  personView.token = state.token;
  const byId = /^[0-9]+$/.test(query);
  const path = byId ? `/contacts/${encodeURIComponent(query)}` : `/contacts?${new URLSearchParams({ phone: query })}`;
  try {
    const story = /** @type {ContactStory} */ (await api('GET', path));
    if (search !== personView.searches) return;
    renderStory(story);
    const n = story.contacts.length;
    if (n === 0) personResult(`${story.phone}: no contact has this number.`, 'warn');
    else personResult(`${story.phone}: ${fmtInt(n)} contact${n === 1 ? '' : 's'}.`, 'good');
  } catch (err) {
    if (search !== personView.searches) return;
    $('person-story').replaceChildren();
    if (err instanceof HttpError && err.status === 404) personResult(`Contact ${query}: no contact with that id.`, 'warn');
    else personResult(`Cannot search: ${apiProblem(err)}.`, 'bad');
  }
}

/** Forgets what another credential searched (the dashboard shown again after another sign-in). */
export function clearPersonIfSignedInAgain() {
  if (personView.token && personView.token !== state.token) {
    personView.token = '';
    personView.searches++;
    $('person-story').replaceChildren();
    personResult('');
    input('person-query').value = '';
  }
}

export function wirePerson() {
  $('person-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const query = input('person-query').value.trim();
    if (!query) return personResult('Type a phone number (E.164, e.g. +1 415 555 0100) or a contact id.', 'warn');
    void searchPerson(query);
  });
}
