// @ts-check
// Admin dashboard of the campaign scheduler: plain ES module, no build step.
// Reads the functions' base URL from /api/dashboard-config, then talks to the scheduler-admin Edge
// Function with the operator's admin token (kept in sessionStorage for this tab only):
//   GET  <functionsUrl>/scheduler-admin/status   every 5 s
//   POST <functionsUrl>/scheduler-admin/trigger  the "Run tick now" button (rate-limited)
// Everything from the server is rendered with textContent, never as HTML.
// Typed with JSDoc (npm run typecheck checks it): the payloads are the types scheduler-admin
// answers with, from supabase/functions/_shared/status.ts.

/** @typedef {import('../supabase/functions/_shared/status.ts').StatusPayload} StatusPayload */
/** @typedef {import('../supabase/functions/_shared/status.ts').SchedulerStatusRow} SchedulerStatusRow */
/** @typedef {import('../supabase/functions/_shared/status.ts').CampaignProgressRow} CampaignProgressRow */
/** @typedef {import('../supabase/functions/_shared/status.ts').RunRow} RunRow */
/** @typedef {import('../supabase/functions/_shared/status.ts').RunError} RunError */
/** @typedef {import('../supabase/functions/_shared/status.ts').TickResponseBody} TickResponseBody */
/** @typedef {import('../supabase/functions/_shared/status.ts').WaitReasonsPayload} WaitReasonsPayload */
/** @typedef {import('../supabase/functions/_shared/status.ts').ContactWaitRow} ContactWaitRow */
/** @typedef {import('../supabase/functions/_shared/status.ts').WaitReason} WaitReason */
/** @typedef {import('../supabase/functions/_shared/campaign-schema.ts').CampaignCreate} CampaignCreate */
/** @typedef {import('../supabase/functions/_shared/campaign-schema.ts').CampaignAction} CampaignAction */
/** Error answers: {error} and, for a failed or rate-limited tick, the tick's fields; a refused
 * campaign names its fields (`issues` from the schema, `field` from a database constraint). */
/**
 * @typedef {{ error?: string, message?: string, retry_after_ms?: number, field?: string, line?: number | null,
 *   issues?: Array<{ field: string, message: string }> } & Partial<TickResponseBody>} ErrorBody
 */

const TOKEN_KEY = 'campaign-scheduler.admin-token';
const REFRESH_MS = 5000;

/**
 * @type {{
 *   functionsUrl: string,
 *   token: string,
 *   status: Partial<SchedulerStatusRow> | null,
 *   clockOffsetMs: number,
 *   refreshTimer: ReturnType<typeof setTimeout> | undefined,
 *   refreshing: boolean,
 *   lastAnnounced: string,
 *   lastRefreshAt: number,
 * }}
 */
const state = {
  functionsUrl: '',
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  status: null,
  /** server clock minus browser clock, from the `now` of the last status answer */
  clockOffsetMs: 0,
  refreshTimer: undefined,
  refreshing: false,
  lastAnnounced: '',
  lastRefreshAt: 0,
};

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
};

// ---------------------------------------------------------------------------------------------
// Formatting

const intFmt = new Intl.NumberFormat();
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** @param {unknown} v @returns {number | null} */
const num = (v) => (v === null || v === undefined || v === '' ? null : Number(v));
/** @param {unknown} v */
const fmtInt = (v) => {
  const n = num(v);
  return n === null ? '–' : intFmt.format(n);
};

function serverNow() {
  return Date.now() + state.clockOffsetMs;
}

/** @param {string | null | undefined} iso */
function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  const sameDay = new Date(serverNow()).toDateString() === d.toDateString();
  return (sameDay ? timeFmt : dateTimeFmt).format(d);
}

/** @param {string | null | undefined} iso */
function fmtAgo(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((serverNow() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** @param {unknown} ms */
function fmtDuration(ms) {
  const n = num(ms);
  if (n === null) return '–';
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

/** @param {number} ms */
function fmtCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** @type {Record<string, string>} */
const TONES = {
  ok: 'good',
  closed: 'good',
  COMPLETED: 'good',
  completed: 'good',
  RUNNING: 'info',
  running: 'info',
  half_open: 'warn',
  probe: 'warn',
  partial: 'warn',
  PAUSED: 'warn',
  skipped: 'neutral',
  duplicate: 'neutral',
  QUEUED: 'neutral',
  failed: 'bad',
  open: 'bad',
  CANCELLED: 'bad',
};

/** @param {HTMLElement} el @param {string | null | undefined} value @param {string} [label] */
function badge(el, value, label) {
  el.textContent = label ?? (value ? String(value).replace(/_/g, ' ').toLowerCase() : '–');
  el.className = `badge ${el.classList.contains('large') ? 'large ' : ''}tone-${(value ? TONES[value] : undefined) ?? 'neutral'}`;
}

/**
 * @param {string} tag
 * @param {{ className?: string, text?: unknown, title?: string, testid?: string }} [opts]
 * @param {Array<Node | string>} [children]
 */
function el(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.className) node.className = opts.className;
  if (opts.text !== undefined) node.textContent = String(opts.text);
  if (opts.title) node.title = opts.title;
  if (opts.testid) node.dataset.testid = opts.testid;
  for (const c of children) node.append(c);
  return node;
}

// ---------------------------------------------------------------------------------------------
// API

class HttpError extends Error {
  /** @param {number} status @param {ErrorBody | null} body @param {Headers} headers */
  constructor(status, body, headers) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * @template T
 * @param {'GET' | 'POST' | 'PATCH' | 'DELETE'} method
 * @param {string} subPath '/status', '/trigger', '/tokens', '/tokens/<id>'
 * @param {string} [token]
 * @param {unknown} [json] a JSON body
 * @returns {Promise<T>}
 */
async function api(method, subPath, token = state.token, json = undefined) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${state.functionsUrl}/scheduler-admin${subPath}`, {
    method,
    headers,
    cache: 'no-store',
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new HttpError(res.status, body, res.headers);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Views

/** @param {string} message */
function showBanner(message) {
  const banner = $('banner');
  banner.textContent = message;
  banner.hidden = !message;
}

function showLogin(message = '') {
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

function showDashboard() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('sign-out').hidden = false;
  void loadTokens();
  void loadCampaigns();
  void loadAudit();
  void loadWaitReasons();
  void loadAccounts();
  void loadDoNotCall();
}

function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  showLogin(message);
}

/** @param {StatusPayload} data */
function renderStatus(data) {
  /** @type {Partial<SchedulerStatusRow>} */
  const s = data.status ?? {};
  state.status = s;
  state.clockOffsetMs = data.now ? new Date(data.now).getTime() - Date.now() : 0;

  // Last run
  const hasRun = s.last_run_id !== null && s.last_run_id !== undefined;
  $('last-run-time').textContent = hasRun ? fmtTime(s.last_run_started_at) : 'No runs yet';
  badge($('last-run-status'), hasRun ? s.last_run_status : null, hasRun ? undefined : 'waiting');
  $('last-run-id').textContent = hasRun ? `#${s.last_run_id}` : '';
  $('last-run-detail').textContent = hasRun ? lastRunDetail(s) : '';

  // Calls launched
  $('launched-last-run').textContent = hasRun ? fmtInt(s.last_run_calls_launched) : '–';
  $('launched-last-run').title = hasRun ? `${fmtInt(s.last_run_calls_reserved)} reserved` : '';
  $('launched-last-hour').textContent = fmtInt(s.calls_launched_last_hour);
  $('launched-last-day').textContent = fmtInt(s.calls_launched_last_day);

  // Capacity
  const active = num(s.active_calls) ?? 0;
  const cap = num(s.global_max_concurrent_calls) ?? 0;
  $('active-calls').textContent = `${intFmt.format(active)} / ${cap ? intFmt.format(cap) : '–'}`;
  const pct = cap > 0 ? Math.min(100, Math.round((active / cap) * 100)) : 0;
  const bar = $('capacity-bar');
  bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-valuetext', `${active} of ${cap} active calls`);
  /** @type {HTMLElement} */ (bar.firstElementChild).style.width = `${pct}%`;
  bar.classList.toggle('full', cap > 0 && active >= cap);
  $('queued-calls').textContent =
    `${fmtInt(s.queued_calls)} queued · ${fmtInt(s.active_campaigns)} active campaign${
      num(s.active_campaigns) === 1 ? '' : 's'
    }` +
    ` · ${fmtInt(s.calls_completed_last_day)} completed today`;

  // Breaker
  badge($('breaker-state'), s.breaker_state ?? 'closed');
  $('breaker-detail').textContent = s.breaker_state === 'open' && s.breaker_open_until
    ? `Dispatch paused until ${fmtTime(s.breaker_open_until)}`
    : s.breaker_state === 'half_open'
    ? 'One probe call decides'
    : 'Provider calls flowing';

  // Errors
  const errors = Array.isArray(s.last_run_errors) ? s.last_run_errors : [];
  $('last-run-error-count').textContent = hasRun ? fmtInt(s.last_run_error_count ?? errors.length) : '–';
  const rate = num(s.run_error_rate_last_hour);
  const runs = num(s.runs_last_hour) ?? 0;
  $('error-rate').textContent = rate === null ? '–' : `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)} %`;
  $('error-rate').title = `${runs} finished run${runs === 1 ? '' : 's'} in the last hour, ${
    fmtInt(s.failed_runs_last_hour)
  } failed`;
  renderErrors(errors);
  renderMachineAnswers(s);

  renderCampaigns(Array.isArray(data.campaigns) ? data.campaigns : []);
  renderRuns(Array.isArray(data.runs) ? data.runs : []);
  renderCountdown();
}

/** @param {Partial<SchedulerStatusRow>} s */
function lastRunDetail(s) {
  const trigger = String(s.last_run_trigger ?? '').replace('_', ' ');
  return s.last_run_status === 'running'
    ? `${trigger} · in progress · started ${fmtAgo(s.last_run_started_at)}`
    : `${trigger} · ${fmtDuration(s.last_run_duration_ms)} · ${fmtAgo(s.last_run_started_at)}`;
}

/** @param {RunError[]} errors */
function renderErrors(errors) {
  const list = $('last-run-errors');
  list.replaceChildren(
    ...errors.slice(0, 20).map((e) => {
      const where = [
        e.campaign_id ? `campaign ${e.campaign_id}` : '',
        e.call_id ? `call ${e.call_id}` : '',
        e.code ? `code ${e.code}` : '',
      ]
        .filter(Boolean)
        .join(' · ');
      return el('li', {}, [
        el('span', { className: 'chip', text: e.stage ?? 'error' }),
        el('span', { className: 'error-message', text: e.message ?? JSON.stringify(e) }),
        ...(where ? [el('span', { className: 'muted small', text: where })] : []),
      ]);
    }),
  );
  if (errors.length > 20) list.append(el('li', { className: 'muted', text: `… and ${errors.length - 20} more` }));
  $('no-errors').hidden = errors.length > 0;
}

/** @param {unknown} active @param {unknown} cap */
function capCell(active, cap) {
  const a = num(active) ?? 0;
  const c = num(cap) ?? 0;
  const pct = c > 0 ? Math.min(100, Math.round((a / c) * 100)) : 0;
  const fill = el('span');
  fill.style.width = `${pct}%`;
  const bar = el('span', { className: `mini-bar${c > 0 && a >= c ? ' full' : ''}` }, [fill]);
  bar.setAttribute('aria-hidden', 'true');
  return el('div', { className: 'cap-cell' }, [el('span', { className: 'mono', text: `${a} / ${c}` }), bar]);
}

/** @param {CampaignProgressRow[]} rows */
function renderCampaigns(rows) {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('campaigns-table').querySelector('tbody'));
  tbody.replaceChildren(
    ...rows.map((c) => {
      const status = el('span');
      badge(status, c.status);
      const tr = el('tr', { testid: 'campaign-row' }, [
        campaignNameCell(c),
        el(
          'td',
          {},
          c.paused_reason
            ? [status, el('div', { className: 'muted', testid: 'paused-reason', text: c.paused_reason })]
            : [status],
        ),
        el('td', { className: 'num', text: fmtInt(c.priority) }),
        el('td', {}, [capCell(c.active_calls, c.max_concurrent_calls)]),
        el('td', { className: 'num', text: fmtInt(c.queued_calls) }),
        el('td', { className: 'num', text: fmtInt(c.contacts_remaining) }),
        el('td', { className: 'num', text: fmtInt(c.contacts_done) }),
        el('td', { className: 'num', text: fmtInt(c.contacts_exhausted) }),
        el('td', { className: 'num', text: `${fmtInt(c.contacts_invalid)} / ${fmtInt(c.contacts_do_not_call)}` }),
        el('td', { className: 'num', text: fmtInt(c.contacts_total) }),
        el('td', {
          className: 'num',
          testid: 'campaign-machine-answers',
          text: fmtInt(c.machine_answers_last_day),
          title: `${fmtInt(c.machine_answers_last_hour)} in the last hour`,
        }),
      ]);
      tr.firstElementChild?.setAttribute('scope', 'row');
      return tr;
    }),
  );
  $('no-campaigns').hidden = rows.length > 0;
  paintCampaignAccounts();
}

/** @param {RunRow[]} rows */
function renderRuns(rows) {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('runs-table').querySelector('tbody'));
  tbody.replaceChildren(
    ...rows.slice(0, 15).map((r) => {
      const status = el('span');
      badge(status, r.status);
      const errorCount = num(r.error_count) ?? 0;
      const errorsCell = el('td', { className: `num${errorCount > 0 ? ' has-errors' : ''}`, text: fmtInt(errorCount) });
      if (errorCount > 0 && Array.isArray(r.errors)) {
        errorsCell.title = r.errors.slice(0, 5).map((e) => `${e.stage ?? 'error'}: ${e.message ?? ''}`).join('\n');
      }
      return el('tr', { testid: 'run-row' }, [
        el('td', { className: 'num mono', text: `#${r.id}` }),
        el('td', { text: fmtTime(r.started_at), title: r.started_at ?? '' }),
        el('td', { text: String(r.trigger ?? '').replace('_', ' ') }),
        el('td', {}, [status]),
        el('td', { className: 'num', text: fmtDuration(r.duration_ms) }),
        el('td', { className: 'num', text: fmtInt(r.calls_reserved) }),
        el('td', { className: 'num', text: fmtInt(r.calls_launched) }),
        el('td', { className: 'num', text: fmtInt(r.calls_failed) }),
        errorsCell,
      ]);
    }),
  );
  $('no-runs').hidden = rows.length > 0;
  $('runs-table').hidden = rows.length === 0;
}

function renderCountdown() {
  const s = state.status;
  const out = $('countdown');
  const at = $('next-run-at');
  if (!s) return;
  if (!s.next_run_at) {
    out.textContent = 'not scheduled';
    at.textContent = 'The pg_cron tick job is missing or not every minute';
    return;
  }
  const remaining = new Date(s.next_run_at).getTime() - serverNow();
  const paused = s.cron_job_active === false ? ' · pg_cron job paused' : '';
  if (remaining <= 0) {
    out.textContent = 'due now';
    at.textContent = `Scheduled for ${fmtTime(s.next_run_at)}${paused}`;
    announce('The next run is due now');
    // Pick up the new run soon after it was due (at most one extra refresh every 2 s).
    if (Date.now() - state.lastRefreshAt > 2000) void refresh();
    return;
  }
  out.textContent = fmtCountdown(remaining);
  at.textContent = `at ${fmtTime(s.next_run_at)}${paused}`;
  const secs = Math.ceil(remaining / 1000);
  if (secs === 30 || secs === 10) announce(`Next run in ${secs} seconds`);
  // Relative times ("12 s ago") move with the countdown.
  if (s.last_run_id !== null && s.last_run_id !== undefined) $('last-run-detail').textContent = lastRunDetail(s);
}

/** @param {string} message */
function announce(message) {
  if (state.lastAnnounced === message) return;
  state.lastAnnounced = message;
  $('countdown-announcer').textContent = message;
}

// ---------------------------------------------------------------------------------------------
// Refresh loop

function scheduleRefresh(ms = REFRESH_MS) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => void refresh(), ms);
}

async function refresh() {
  if (!state.token || state.refreshing) return;
  state.refreshing = true;
  state.lastRefreshAt = Date.now();
  try {
    const data = /** @type {StatusPayload} */ (await api('GET', '/status'));
    showBanner('');
    showDashboard();
    renderStatus(data);
    $('refresh-note').textContent = `Updated ${timeFmt.format(new Date())}`;
  } catch (err) {
    const refused = credentialRefused(err, 'The admin token was refused. Check it and sign in again.');
    if (refused) {
      signOut(refused);
      return;
    }
    const why = err instanceof HttpError
      ? `answered HTTP ${err.status}${err.body?.error ? ` (${err.body.error})` : ''}`
      : 'is unreachable';
    showBanner(`The scheduler API at ${state.functionsUrl} ${why}. Retrying every ${REFRESH_MS / 1000} s.`);
    $('refresh-note').textContent = 'Connection problem';
  } finally {
    state.refreshing = false;
    if (state.token) scheduleRefresh();
  }
}

// ---------------------------------------------------------------------------------------------
// Manual trigger

async function triggerTick() {
  const button = /** @type {HTMLButtonElement} */ ($('trigger-button'));
  const result = $('trigger-result');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  const label = button.textContent;
  button.textContent = 'Running…';
  result.className = 'trigger-result';
  result.textContent = 'Tick running…';
  try {
    const r = /** @type {TickResponseBody} */ (await api('POST', '/trigger'));
    const errors = Array.isArray(r.errors) ? r.errors.length : 0;
    result.className = `trigger-result tone-${TONES[r.status] ?? 'neutral'}`;
    result.textContent = r.status === 'skipped'
      ? `Run #${r.run_id} skipped: another tick was running at that moment; it serves the same calls.`
      : `Run #${r.run_id} ${r.status}: launched ${fmtInt(r.launched)}, reserved ${fmtInt(r.reserved)}, ` +
        `${errors} error${errors === 1 ? '' : 's'} in ${fmtDuration(r.duration_ms)}.`;
  } catch (err) {
    const refused = credentialRefused(err, 'The admin token was refused. Check it and sign in again.');
    if (refused) {
      signOut(refused);
      return;
    }
    result.className = 'trigger-result tone-warn';
    if (err instanceof HttpError && err.status === 429) {
      const header = Number(err.headers.get('retry-after'));
      const ms = num(err.body?.retry_after_ms) ?? (Number.isFinite(header) ? header * 1000 : 1000);
      const secs = Math.max(1, Math.ceil(ms / 1000));
      result.textContent = `Rate limited: a manual tick ran moments ago. Try again in ${secs} s.`;
    } else if (err instanceof HttpError) {
      const b = err.body ?? {};
      result.className = 'trigger-result tone-bad';
      result.textContent = b.run_id
        ? `Run #${b.run_id} ${b.status ?? 'failed'}: ${b.errors?.[0]?.message ?? 'see the run log'}.`
        : `The trigger failed: HTTP ${err.status}${b.error ? ` (${b.error})` : ''}.`;
    } else {
      result.className = 'trigger-result tone-bad';
      result.textContent = `The trigger failed: the scheduler API is unreachable.`;
    }
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
    void refresh();
  }
}

// ---------------------------------------------------------------------------------------------
// Operator tokens: each operator gets their own (shown once), revocable, with an optional expiry.

/**
 * @typedef {{ id: string, name: string, created_at: string, created_by: string, expires_at: string | null,
 *   revoked_at: string | null, last_used_at: string | null, state: 'valid' | 'expired' | 'revoked' }} OperatorToken
 */

async function loadTokens() {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('tokens-table').querySelector('tbody'));
  try {
    const { tokens } = /** @type {{ tokens: OperatorToken[] }} */ (await api('GET', '/tokens'));
    tbody.replaceChildren(
      ...tokens.map((t) => {
        const tr = document.createElement('tr');
        tr.dataset.testid = `token-${t.name}`;
        const cells = [
          t.name,
          t.state,
          fmtDateTime(t.created_at),
          t.expires_at ? fmtDateTime(t.expires_at) : 'never',
          t.last_used_at ? fmtDateTime(t.last_used_at) : '–',
        ];
        for (const c of cells) {
          const td = document.createElement('td');
          td.textContent = c;
          tr.append(td);
        }
        const td = document.createElement('td');
        if (t.state !== 'revoked') {
          const b = document.createElement('button');
          b.type = 'button';
          b.className = 'button ghost';
          b.textContent = 'Revoke';
          b.dataset.testid = `revoke-${t.name}`;
          b.addEventListener('click', () => void revokeToken(t));
          td.append(b);
        }
        tr.append(td);
        return tr;
      }),
    );
    $('no-tokens').hidden = tokens.length > 0;
  } catch (err) {
    $('token-result').textContent = `Cannot list the tokens: ${
      err instanceof HttpError ? `HTTP ${err.status}` : 'the API is unreachable'
    }.`;
  }
}

/** @param {SubmitEvent} event */
async function createToken(event) {
  event.preventDefault();
  const name = /** @type {HTMLInputElement} */ ($('token-name')).value.trim();
  const days = Number(/** @type {HTMLInputElement} */ ($('token-days')).value);
  const result = $('token-result');
  const shown = /** @type {HTMLInputElement} */ ($('new-token'));
  try {
    const created = /** @type {{ name: string, token: string }} */ (
      await api('POST', '/tokens', state.token, { name, ...(days > 0 ? { expires_in_days: days } : {}) })
    );
    shown.value = created.token;
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

/** @param {string} iso */
const fmtDateTime = (iso) => dateTimeFmt.format(new Date(iso));

/** @param {OperatorToken} t */
async function revokeToken(t) {
  if (!globalThis.confirm(`Revoke the token of ${t.name}? Whoever uses it is signed out at once.`)) return;
  try {
    await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
    $('token-result').textContent = `Token of ${t.name} revoked.`;
  } catch (err) {
    $('token-result').textContent = `Not revoked: ${err instanceof HttpError ? `HTTP ${err.status}` : 'the API is unreachable'}.`;
  }
  await loadTokens();
}

// ---------------------------------------------------------------------------------------------
// Campaign controls: create / edit (the fields of _shared/campaign-schema.ts), CSV import,
// pause / resume / cancel after a preview of what happens, export, and the audit trail.

/**
 * @typedef {CampaignCreate & { id: string, status: string, paused_reason?: string | null,
 *   provider_settings?: Record<string, unknown> }} CampaignRow
 */
/**
 * @typedef {{ allowed: boolean, reason: string | null, status: string, status_after: string | null,
 *   queued_calls_released: number, active_calls_finishing: number, pending_contacts_ended: number,
 *   pending_contacts: number }} ActionPreview
 */
/**
 * @typedef {{ rows: number, imported: number, duplicates: number, duplicate_lines: number[],
 *   errors_total: number, errors: Array<{ line: number, column: string | null, reason: string }>,
 *   complete: boolean, stopped: { line: number, reason: string } | null, committed_through_line: number }} ImportReport
 */
/** @typedef {{ id: string, at: string, actor: string, action: string, subject: string | null }} AuditEntry */

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
  'retry_delay',
  'retry_backoff',
]);
const NUMBER_FIELDS = new Set(['max_concurrent_calls', 'priority', 'max_attempts', 'retry_backoff']);
const ACTION_KINDS = ['url', 'twiml', 'application_sid'];
/** Records per POST when a big file is sent in parts (as `npm run campaign -- import` does). */
const ROWS_PER_PART = 5000;

/**
 * @type {{ campaigns: CampaignRow[], editing: string | null, loaded: Record<string, unknown>,
 *   pendingAction: CampaignAction | null }}
 */
const controls = { campaigns: [], editing: null, loaded: {}, pendingAction: null };

/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));

/** @param {unknown} err */
const apiProblem = (err) =>
  err instanceof HttpError ? err.body?.message ?? err.body?.error ?? `HTTP ${err.status}` : 'the scheduler API is unreachable';

/** @param {string} text @param {string} [tone] */
function controlsResult(text, tone = 'neutral') {
  const out = $('controls-result');
  out.className = `trigger-result tone-${tone}`;
  out.textContent = text;
}

function selectedCampaignId() {
  return /** @type {HTMLSelectElement} */ ($('campaign-select')).value;
}

async function loadCampaigns() {
  try {
    const { campaigns } = /** @type {{ campaigns: CampaignRow[] }} */ (await api('GET', '/campaigns'));
    controls.campaigns = campaigns;
    const select = /** @type {HTMLSelectElement} */ ($('campaign-select'));
    const keep = select.value;
    select.replaceChildren(
      ...campaigns.map((c) => {
        const o = /** @type {HTMLOptionElement} */ (el('option', { text: `${c.name} (#${c.id}, ${c.status.toLowerCase()})` }));
        o.value = String(c.id);
        return o;
      }),
    );
    if (campaigns.some((c) => String(c.id) === keep)) select.value = keep;
    paintCampaignAccounts();
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
  const settings = c?.provider_settings ?? {};
  const kind = ACTION_KINDS.find((k) => typeof settings[k] === 'string' && settings[k] !== '') ?? '';
  /** @type {HTMLSelectElement} */ ($('f-action_kind')).value = kind;
  input('f-action_value').value = kind ? String(settings[kind]) : '';
  const days = new Set((c?.window_days ?? []).map(String));
  for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('#campaign-form input[name=day]'))) {
    box.checked = days.has(box.value);
  }
  fillDates(c);
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
  const kind = /** @type {HTMLSelectElement} */ ($('f-action_kind')).value;
  const value = input('f-action_value').value.trim();
  if (kind) body.provider_settings = { [kind]: value };
  const days = [...document.querySelectorAll('#campaign-form input[name=day]')]
    .filter((b) => /** @type {HTMLInputElement} */ (b).checked)
    .map((b) => Number(/** @type {HTMLInputElement} */ (b).value));
  if (days.length > 0 || controls.editing) body.window_days = days;
  Object.assign(body, datesBody());
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
        ? await api('PATCH', `/campaigns/${encodeURIComponent(editing)}`, state.token, body)
        : await api('POST', '/campaigns', state.token, body)
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
      `${fmtInt(p.queued_calls_released)} queued call${p.queued_calls_released === 1 ? '' : 's'} released,`,
      `${fmtInt(p.active_calls_finishing)} active call${p.active_calls_finishing === 1 ? '' : 's'} finishing,`,
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

/**
 * A big file in parts of ROWS_PER_PART records, each the header and its records as they are in the
 * file, with the line offset that keeps the reported line numbers the file's. A record ends at a
 * line break outside quotes.
 * @param {string} text
 * @returns {Array<{ body: string, lineOffset: number }>}
 */
function csvParts(text) {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  /** @type {Array<{ body: string, lineOffset: number }>} */
  const parts = [];
  let header = '';
  let headerLines = 0;
  /** @type {string[]} */
  let part = [];
  let records = 0;
  let firstLine = 0;
  let record = '';
  let inQuotes = false;
  let recordStart = 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (!inQuotes) recordStart = i + 1;
    record += `${line}\n`;
    inQuotes = ((line.match(/"/g)?.length ?? 0) % 2 === 1) !== inQuotes;
    if (inQuotes) continue;
    if (!header) {
      header = record;
      headerLines = i + 1;
    } else {
      if (part.length === 0) firstLine = recordStart;
      part.push(record);
      records++;
      if (records === ROWS_PER_PART) {
        parts.push({ body: header + part.join(''), lineOffset: firstLine - headerLines - 1 });
        part = [];
        records = 0;
      }
    }
    record = '';
  }
  if (record) part.push(record);
  if (part.length > 0) parts.push({ body: header + part.join(''), lineOffset: firstLine - headerLines - 1 });
  return parts;
}

/** @param {SubmitEvent} event */
async function importCsv(event) {
  event.preventDefault();
  const id = selectedCampaignId();
  const file = input('csv-file').files?.[0];
  const report = $('import-report');
  const list = $('import-errors');
  list.replaceChildren();
  if (!id || !file) {
    report.textContent = 'Choose a campaign and a CSV file first.';
    return;
  }
  const region = input('csv-region').value.trim().toUpperCase();
  // A small file goes as it is (the function reports encoding problems); a big one in parts.
  const parts = file.size < 2 * 1024 * 1024
    ? [{ body: /** @type {Blob | string} */ (file), lineOffset: 0 }]
    : csvParts(await file.text());
  const total = { rows: 0, imported: 0, duplicates: 0, errors: 0 };
  /** @type {ImportReport['errors']} */
  const errors = [];
  /** @type {number[]} */
  const duplicateLines = [];
  let stopped = '';
  for (const [n, part] of parts.entries()) {
    report.textContent = `Importing ${file.name}: part ${n + 1} of ${parts.length}…`;
    const q = new URLSearchParams({ line_offset: String(part.lineOffset) });
    if (region) q.set('region', region);
    try {
      const res = await fetch(`${state.functionsUrl}/scheduler-admin/campaigns/${encodeURIComponent(id)}/contacts?${q}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${state.token}`,
          'content-type': 'text/csv; charset=utf-8',
          accept: 'application/json',
        },
        body: part.body,
        cache: 'no-store',
      });
      const r = /** @type {Partial<ImportReport> & ErrorBody} */ (await res.json().catch(() => ({})));
      if (res.status !== 200 && res.status !== 422) {
        stopped = `HTTP ${res.status}: ${r.message ?? r.error ?? ''}`;
        break;
      }
      total.rows += r.rows ?? 0;
      total.imported += r.imported ?? 0;
      total.duplicates += r.duplicates ?? 0;
      total.errors += r.errors_total ?? 0;
      errors.push(...(r.errors ?? []));
      duplicateLines.push(...(r.duplicate_lines ?? []));
      if (r.complete === false || r.stopped) {
        stopped = r.stopped ? `line ${r.stopped.line}: ${r.stopped.reason}` : 'the file stopped part-way';
        break;
      }
    } catch {
      stopped = 'the scheduler API is unreachable';
      break;
    }
  }
  report.className = `import-report tone-${stopped ? 'bad' : total.errors > 0 ? 'warn' : 'good'}`;
  report.textContent = `${file.name}: ${fmtInt(total.rows)} rows, ${fmtInt(total.imported)} imported, ` +
    `${fmtInt(total.duplicates)} duplicate${total.duplicates === 1 ? '' : 's'}` +
    `${duplicateLines.length ? ` (lines ${duplicateLines.slice(0, 20).join(', ')})` : ''}, ${fmtInt(total.errors)} with errors.` +
    (stopped ? ` Stopped at ${stopped}; the rows before it are imported.` : '');
  list.replaceChildren(
    ...errors.slice(0, 100).map((e) =>
      el('li', { testid: 'import-error' }, [
        el('span', { className: 'chip', text: `line ${e.line}${e.column ? `, ${e.column}` : ''}` }),
        el('span', { className: 'error-message', text: e.reason }),
      ])
    ),
  );
  if (total.errors > errors.length || errors.length > 100) {
    list.append(el('li', { className: 'muted', text: `… ${fmtInt(total.errors - Math.min(errors.length, 100))} more` }));
  }
  void loadCampaigns();
  void refresh();
  void loadAudit();
}

async function exportCsv() {
  const id = selectedCampaignId();
  if (!id) return controlsResult('Choose a campaign first.', 'warn');
  try {
    const res = await fetch(`${state.functionsUrl}/scheduler-admin/campaigns/${encodeURIComponent(id)}/export`, {
      headers: { authorization: `Bearer ${state.token}` },
      cache: 'no-store',
    });
    if (!res.ok) throw new HttpError(res.status, await res.json().catch(() => null), res.headers);
    const url = URL.createObjectURL(await res.blob());
    const a = /** @type {HTMLAnchorElement} */ (el('a'));
    a.href = url;
    a.download = `campaign-${id}-contacts.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    controlsResult(`Exported the contacts of campaign #${id}.`, 'good');
  } catch (err) {
    controlsResult(`Export failed: ${apiProblem(err)}.`, 'bad');
  }
}

async function loadAudit() {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('audit-table').querySelector('tbody'));
  try {
    const { entries } = /** @type {{ entries: AuditEntry[] }} */ (await api('GET', '/audit?limit=50'));
    tbody.replaceChildren(
      ...entries.map((e) =>
        el('tr', { testid: 'audit-row' }, [
          el('td', { text: fmtDateTime(e.at), title: e.at }),
          el('td', { className: 'mono', text: e.actor }),
          el('td', { text: e.action }),
          el('td', { text: e.subject ?? '' }),
        ])
      ),
    );
    $('no-audit').hidden = entries.length > 0;
  } catch (err) {
    $('no-audit').hidden = false;
    $('no-audit').textContent = `Cannot list the audit trail: ${apiProblem(err)}.`;
  }
}

// ---------------------------------------------------------------------------------------------
// Machine answers: calls answered by a machine (voicemail, fax), counted from the calls by when
// they ended (scheduler_status), not by the tick that launched them.

/** @param {Partial<SchedulerStatusRow>} s */
function renderMachineAnswers(s) {
  $('machine-answers').textContent = `Answered by a machine: ${fmtInt(s.machine_answers_last_hour)} in the last hour, ${
    fmtInt(s.machine_answers_last_day)
  } in the last day`;
}

// ---------------------------------------------------------------------------------------------
// Why not now: GET /wait-reasons (contact_wait_reasons), every 30 s while signed in, and on demand.
// Evaluated per contact on the server, so not with every 5-second status refresh.

const WAIT_REFRESH_MS = 30_000;

/** @type {Record<WaitReason, string>} */
const WAIT_LABELS = {
  'campaign paused': 'Campaign paused',
  'campaign not started': 'Campaign not started',
  'campaign ended': 'Campaign ended',
  'campaign set-up problem': 'Campaign set-up problem',
  'do-not-call': 'On the do-not-call list',
  'attempts used': 'All attempts used',
  'retry later': 'Retry delay not reached',
  'window closed': 'Calling window closed',
  'quiet hours': 'Calling-hours rule (quiet hours)',
  'number in a call': 'Number in a call (another campaign)',
  'frequency cap': 'Frequency cap (calls per number per 24 h)',
  due: 'Due: waiting for a free slot',
};

/**
 * An instant in the campaign's zone, with the zone named ("Tue, Dec 1, 09:00 America/New_York").
 * @param {string} iso @param {string} zone
 */
function fmtInZone(iso, zone) {
  const d = new Date(iso);
  try {
    const f = new Intl.DateTimeFormat(undefined, {
      weekday: 'short',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: zone,
    });
    return `${f.format(d)} ${zone}`;
  } catch {
    return `${dateTimeFmt.format(d)} (local time; zone ${zone} unknown here)`;
  }
}

/** @param {ContactWaitRow} r */
function waitUntil(r) {
  if (r.reason === 'campaign paused' || r.reason === 'campaign set-up problem') return r.detail ?? '';
  if (r.reason === 'window closed' || r.reason === 'quiet hours') {
    const opens = r.opens_at ? `opens ${fmtInZone(r.opens_at, r.time_zone)}` : 'does not open within 15 days';
    // Quiet hours: in which zone, from where (the number's prefix, the contact, or the campaign's
    // zone for numbers without zone data).
    return r.reason === 'quiet hours' && r.detail ? `${r.detail}; ${opens}` : opens;
  }
  if (r.reason === 'campaign not started') return r.opens_at ? `starts ${fmtInZone(r.opens_at, r.time_zone)}` : '';
  if (r.reason === 'retry later') return r.opens_at ? `next attempt from ${fmtInZone(r.opens_at, r.time_zone)}` : '';
  return '';
}

/** @param {ContactWaitRow[]} rows */
function renderWaitReasons(rows) {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('wait-table').querySelector('tbody'));
  /** @type {string | null} */
  let previous = null;
  tbody.replaceChildren(
    ...rows.map((r) => {
      const first = r.campaign_id !== previous;
      previous = r.campaign_id;
      const tr = el('tr', { testid: 'wait-row', className: first ? 'group-start' : '' }, [
        el('th', { text: first ? r.campaign_name : '', title: `Campaign ${r.campaign_id}` }),
        el('td', { text: WAIT_LABELS[r.reason] ?? r.reason }),
        el('td', { className: 'num', text: fmtInt(r.contacts) }),
        el('td', { testid: 'wait-until', text: waitUntil(r), title: r.opens_at ?? '' }),
      ]);
      tr.firstElementChild?.setAttribute('scope', 'row');
      tr.dataset.campaign = r.campaign_name;
      tr.dataset.reason = r.reason;
      if (r.opens_at) tr.dataset.opensAt = r.opens_at;
      return tr;
    }),
  );
  $('no-waiting').hidden = rows.length > 0;
}

async function loadWaitReasons() {
  if (!state.token || $('dashboard').hidden) return;
  try {
    const { reasons } = /** @type {WaitReasonsPayload} */ (await api('GET', '/wait-reasons'));
    renderWaitReasons(reasons);
  } catch (err) {
    $('no-waiting').hidden = false;
    $('no-waiting').textContent = `Cannot read why contacts wait: ${apiProblem(err)}.`;
  }
}

function wireWaitReasons() {
  $('wait-refresh').addEventListener('click', () => void loadWaitReasons());
  setInterval(() => void loadWaitReasons(), WAIT_REFRESH_MS);
}

function wireControls() {
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
  $('import-form').addEventListener('submit', (e) => void importCsv(/** @type {SubmitEvent} */ (e)));
  $('audit-refresh').addEventListener('click', () => void loadAudit());
  $('account-form').addEventListener('submit', (e) => void saveAccount(/** @type {SubmitEvent} */ (e)));
  $('accounts-refresh').addEventListener('click', () => void loadAccounts());
}

// ---------------------------------------------------------------------------------------------
// Campaign dates (starts_at / ends_at): entered and shown in this browser's time zone, sent as ISO
// 8601 instants (UTC). The shared schema and the database both refuse an end before the start.

const DATE_FIELDS = /** @type {const} */ (['starts_at', 'ends_at']);
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, '0');

/**
 * An instant as a datetime-local value in this browser's time zone ('' for none).
 * @param {unknown} iso
 */
function localInputValue(iso) {
  if (typeof iso !== 'string' || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** This browser's UTC offset now, e.g. 'UTC+01:00'. */
function browserOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/** @param {CampaignRow | null} c */
function fillDates(c) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const note of document.querySelectorAll('#campaign-form .tz-note')) note.textContent = `(${zone}, ${browserOffset()})`;
  for (const f of DATE_FIELDS) input(`f-${f}`).value = localInputValue(c ? /** @type {Record<string, unknown>} */ (c)[f] : null);
}

/** The dates of the form as request fields: an instant each, null to clear one when editing. */
function datesBody() {
  /** @type {Record<string, string | null>} */
  const body = {};
  for (const f of DATE_FIELDS) {
    const raw = input(`f-${f}`).value.trim();
    if (raw === '') {
      if (controls.editing) body[f] = null;
      continue;
    }
    const d = new Date(raw); // a datetime-local value: this browser's local time
    // Not a date: sent as typed, the schema names the field.
    body[f] = Number.isNaN(d.getTime()) ? raw : d.toISOString();
  }
  return body;
}

/**
 * The campaign list's name cell: the name, and the campaign's dates when it has any.
 * @param {CampaignProgressRow} c
 */
function campaignNameCell(c) {
  const th = el('th', { title: `Campaign ${c.campaign_id}` }, [el('span', { text: c.name })]);
  const dates = campaignDatesText(c.starts_at, c.ends_at, serverNow());
  if (dates) th.append(el('div', { className: 'muted campaign-dates', testid: 'campaign-dates', text: dates }));
  return th;
}

/**
 * 'from 1 Dec 2026, 09:00 to 31 Dec 2026, 18:00', 'starts ...' / 'ended ...' relative to now; '' without dates.
 * @param {string | null | undefined} startsAt
 * @param {string | null | undefined} endsAt
 * @param {number} now
 */
function campaignDatesText(startsAt, endsAt, now) {
  const start = startsAt ? new Date(startsAt) : null;
  const end = endsAt ? new Date(endsAt) : null;
  if (end && end.getTime() <= now) return `ended ${dateFmt.format(end)}`;
  const parts = [];
  if (start) parts.push(`${start.getTime() > now ? 'starts' : 'from'} ${dateFmt.format(start)}`);
  if (end) parts.push(`${start ? 'until' : 'ends'} ${dateFmt.format(end)}`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Provider accounts (scheduler-admin /accounts, the view scheduler_account_status): the card lists
// each account's rate, active calls against its cap, breaker and campaigns; its form creates an
// account or changes an existing one's rate and cap; the campaign form's select offers them, and
// the campaign list names each campaign's account.

/**
 * @typedef {{ id: string, provider: string, account_sid: string | null, calls_per_second: number, own_calls_per_second: number | null,
 *   max_concurrent_calls: number | null, active_calls: number, queued_calls: number,
 *   breaker_state: 'closed' | 'open' | 'half_open', breaker_open_until: string | null,
 *   breaker_last_failure_reason: string | null, campaigns: number, live_campaigns: number,
 *   campaign_ids: number[] }} ProviderAccount
 */

/** @type {{ accounts: ProviderAccount[], loads: number }} */
const accountsView = { accounts: [], loads: 0 };

/** @param {string} text @param {string} [tone] */
function accountResult(text, tone = 'neutral') {
  const out = $('account-result');
  out.className = `trigger-result tone-${tone}`;
  out.textContent = text;
}

async function loadAccounts() {
  const load = ++accountsView.loads;
  try {
    const { accounts } = /** @type {{ accounts: ProviderAccount[] }} */ (await api('GET', '/accounts'));
    if (load !== accountsView.loads) return; // a later load (after a change) answers instead
    accountsView.accounts = accounts;
    renderAccounts(accounts);
    fillAccountSelect(accounts);
  } catch (err) {
    accountResult(`Cannot list the provider accounts: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {ProviderAccount[]} accounts */
function renderAccounts(accounts) {
  const tbody = /** @type {HTMLTableSectionElement} */ ($('accounts-table').querySelector('tbody'));
  tbody.replaceChildren(
    ...accounts.map((a) => {
      const breaker = el('span');
      badge(breaker, a.breaker_state);
      const breakerCell = el('td', {}, [breaker]);
      if (a.breaker_state === 'open' && a.breaker_open_until) {
        breakerCell.append(el('div', { className: 'muted', text: `until ${fmtTime(a.breaker_open_until)}` }));
      }
      if (a.breaker_state !== 'closed' && a.breaker_last_failure_reason) {
        breakerCell.append(el('div', { className: 'muted', text: a.breaker_last_failure_reason }));
      }
      const rate = `${a.calls_per_second}${a.own_calls_per_second === null ? ' (global)' : ''}`;
      const cap = a.max_concurrent_calls === null ? 'no cap' : fmtInt(a.max_concurrent_calls);
      const used = a.campaigns === 0
        ? 'none'
        : `${fmtInt(a.campaigns)} (#${a.campaign_ids.join(', #')})${
          a.live_campaigns < a.campaigns ? `, ${a.live_campaigns} live` : ''
        }`;
      const actions = el('td');
      const edit = el('button', { className: 'button ghost', text: 'Edit', testid: `account-edit-${a.id}` });
      edit.setAttribute('type', 'button');
      edit.addEventListener('click', () => fillAccountForm(a));
      actions.append(edit);
      if (a.campaigns === 0 && a.id !== 'default') {
        const del = el('button', { className: 'button ghost', text: 'Delete', testid: `account-delete-${a.id}` });
        del.setAttribute('type', 'button');
        del.addEventListener('click', () => void deleteAccount(a));
        actions.append(del);
      }
      const name = el('th', { text: a.id });
      if (a.account_sid) name.append(el('div', { className: 'muted mono', text: a.account_sid }));
      name.setAttribute('scope', 'row');
      const tr = el('tr', { testid: `account-${a.id}` }, [
        name,
        el('td', { className: 'num', text: rate }),
        el('td', { className: 'mono', text: `${fmtInt(a.active_calls)} / ${cap}` }),
        breakerCell,
        el('td', { text: used }),
        actions,
      ]);
      return tr;
    }),
  );
}

/** The campaign form's account select: the accounts, keeping what is chosen. @param {ProviderAccount[]} accounts */
function fillAccountSelect(accounts) {
  const select = /** @type {HTMLSelectElement} */ ($('f-provider_account'));
  const keep = select.value;
  const blank = /** @type {HTMLOptionElement} */ (el('option', { text: '(default account)' }));
  blank.value = '';
  select.replaceChildren(
    blank,
    ...accounts.map((a) => {
      const o = /** @type {HTMLOptionElement} */ (el('option', { text: a.id }));
      o.value = a.id;
      return o;
    }),
  );
  // A campaign being edited may name an account not listed yet: keep it as an option.
  if (keep && !accounts.some((a) => a.id === keep)) {
    const o = /** @type {HTMLOptionElement} */ (el('option', { text: keep }));
    o.value = keep;
    select.append(o);
  }
  select.value = keep;
}

/** @param {ProviderAccount} a */
function fillAccountForm(a) {
  input('account-id').value = a.id;
  input('account-sid').value = a.account_sid ?? '';
  input('account-cps').value = a.own_calls_per_second === null ? '' : String(a.own_calls_per_second);
  input('account-cap').value = a.max_concurrent_calls === null ? '' : String(a.max_concurrent_calls);
  accountResult(`Editing ${a.id}: empty calls per second = the global setting, empty cap = no cap of its own.`);
}

/** @param {string} raw */
const numberOrText = (raw) => (raw === '' ? null : Number.isFinite(Number(raw)) ? Number(raw) : raw);

/** Creates the account, or changes the rate and cap of an existing one. @param {SubmitEvent} event */
async function saveAccount(event) {
  event.preventDefault();
  const id = input('account-id').value.trim();
  const sid = input('account-sid').value.trim();
  const fields = {
    account_sid: sid === '' ? null : sid,
    calls_per_second: numberOrText(input('account-cps').value.trim()),
    max_concurrent_calls: numberOrText(input('account-cap').value.trim()),
  };
  const exists = accountsView.accounts.some((a) => a.id === id);
  try {
    const a = /** @type {ProviderAccount} */ (
      exists
        ? await api('PATCH', `/accounts/${encodeURIComponent(id)}`, state.token, fields)
        : await api('POST', '/accounts', state.token, { id, ...fields })
    );
    accountResult(
      `Account ${a.id} ${exists ? 'saved' : 'created'}: ${a.calls_per_second} calls/s, ${
        a.max_concurrent_calls === null ? 'no cap of its own' : `cap ${a.max_concurrent_calls}`
      }.`,
      'good',
    );
    /** @type {HTMLFormElement} */ ($('account-form')).reset();
  } catch (err) {
    accountResult(`Not saved: ${apiProblem(err)}.`, 'bad');
  }
  await loadAccounts();
  void loadAudit();
}

/** @param {ProviderAccount} a */
async function deleteAccount(a) {
  if (!globalThis.confirm(`Delete provider account ${a.id}?`)) return;
  try {
    await api('DELETE', `/accounts/${encodeURIComponent(a.id)}`);
    accountResult(`Account ${a.id} deleted.`, 'good');
  } catch (err) {
    accountResult(`Not deleted: ${apiProblem(err)}.`, 'bad');
  }
  await loadAccounts();
  void loadAudit();
}

// ---------------------------------------------------------------------------------------------
// The do-not-call list: search (pages of 100), add, remove with a reason, CSV import and export.

const DNC_PAGE = 100;
const dncView = { query: '', next: /** @type {string | null} */ (null), loads: 0 };

/** @param {string} text @param {string} [tone] */
function dncResult(text, tone = 'neutral') {
  const out = $('dnc-result');
  out.className = `trigger-result tone-${tone}`;
  out.textContent = text;
}

/** @param {{ phone: string, reason: string | null, added_at: string, added_by: string | null }} r */
function dncRow(r) {
  const remove = el('button', { className: 'button ghost', text: 'Remove', testid: `dnc-remove-${r.phone}` });
  remove.setAttribute('type', 'button');
  remove.addEventListener('click', () => void removeDoNotCall(r.phone));
  const number = el('th', { className: 'mono', text: r.phone });
  number.setAttribute('scope', 'row');
  return el('tr', { testid: `dnc-row-${r.phone}` }, [
    number,
    el('td', { text: r.reason ?? '' }),
    el('td', { text: fmtDateTime(r.added_at), title: r.added_at }),
    el('td', { className: 'mono', text: r.added_by ?? '' }),
    el('td', {}, [remove]),
  ]);
}

/** Loads the first page of the current search (more: false), or the next page (more: true). */
async function loadDoNotCall(more = false) {
  const load = ++dncView.loads;
  const tbody = /** @type {HTMLTableSectionElement} */ ($('dnc-table').querySelector('tbody'));
  const q = new URLSearchParams({ limit: String(DNC_PAGE) });
  if (dncView.query) q.set('q', dncView.query);
  if (more && dncView.next) q.set('after', dncView.next);
  try {
    const page =
      /** @type {{ numbers: Array<{ phone: string, reason: string | null, added_at: string, added_by: string | null }>, next_after: string | null }} */ (
        await api('GET', `/do-not-call?${q}`)
      );
    if (load !== dncView.loads) return;
    const rows = page.numbers.map(dncRow);
    if (more) tbody.append(...rows);
    else tbody.replaceChildren(...rows);
    dncView.next = page.next_after;
    $('dnc-more').hidden = page.next_after === null;
    $('no-dnc').hidden = tbody.children.length > 0;
  } catch (err) {
    dncResult(`Cannot list the do-not-call list: ${apiProblem(err)}.`, 'bad');
  }
}

/** @param {SubmitEvent} event */
async function addDoNotCall(event) {
  event.preventDefault();
  const phone = input('dnc-phone').value.trim();
  const reason = input('dnc-reason').value.trim();
  if (!/^\+[1-9][0-9]{6,14}$/.test(phone)) return dncResult('The number must be E.164: + then 7 to 15 digits.', 'warn');
  if (!reason) return dncResult('Give a reason.', 'warn');
  try {
    const r = /** @type {{ added: boolean, contacts_marked?: number }} */ (await api('POST', '/do-not-call', state.token, {
      phone,
      reason,
    }));
    dncResult(
      r.added
        ? `${phone} added; ${fmtInt(r.contacts_marked ?? 0)} contact(s) marked do_not_call.`
        : `${phone} was already on the list: nothing changed.`,
      r.added ? 'good' : 'neutral',
    );
    input('dnc-phone').value = '';
    input('dnc-reason').value = '';
  } catch (err) {
    dncResult(`Not added: ${apiProblem(err)}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

/** @param {string} phone */
async function removeDoNotCall(phone) {
  const reason = globalThis.prompt(`Why take ${phone} off the do-not-call list? (required)`)?.trim();
  if (!reason) return dncResult(`${phone} stays on the list: a reason is required to remove it.`, 'warn');
  try {
    const r = /** @type {{ contacts_still_do_not_call: number }} */ (await api(
      'DELETE',
      `/do-not-call/${encodeURIComponent(phone)}`,
      state.token,
      { reason },
    ));
    dncResult(
      `${phone} removed; ${fmtInt(r.contacts_still_do_not_call)} contact(s) marked earlier stay do_not_call (not dialled again).`,
      'good',
    );
  } catch (err) {
    dncResult(`Not removed: ${apiProblem(err)}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

/** @param {SubmitEvent} event */
async function importDoNotCall(event) {
  event.preventDefault();
  const file = input('dnc-file').files?.[0];
  if (!file) return dncResult('Choose a CSV file first.', 'warn');
  const errors = $('dnc-errors');
  errors.replaceChildren();
  try {
    const res = await fetch(`${state.functionsUrl}/scheduler-admin/do-not-call/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${state.token}`, 'content-type': 'text/csv; charset=utf-8' },
      body: await file.text(),
      cache: 'no-store',
    });
    const r = await res.json().catch(() => null);
    if (!res.ok) throw new HttpError(res.status, r, res.headers);
    errors.replaceChildren(
      ...(/** @type {Array<{ line: number, reason: string }>} */ (r.errors)).map((e) =>
        el('li', { testid: 'dnc-error', text: `line ${e.line}: ${e.reason}` })
      ),
    );
    dncResult(
      `${fmtInt(r.rows)} rows: ${fmtInt(r.added)} added, ${fmtInt(r.already_listed)} already listed, ${
        fmtInt(r.errors_total)
      } refused.`,
      r.errors_total > 0 ? 'warn' : 'good',
    );
  } catch (err) {
    const line = err instanceof HttpError && typeof err.body?.line === 'number' ? ` (line ${err.body.line})` : '';
    dncResult(`Import failed: ${apiProblem(err)}${line}.`, 'bad');
  }
  await loadDoNotCall();
  void loadAudit();
}

async function exportDoNotCall() {
  try {
    const res = await fetch(`${state.functionsUrl}/scheduler-admin/do-not-call/export`, {
      headers: { authorization: `Bearer ${state.token}` },
      cache: 'no-store',
    });
    if (!res.ok) throw new HttpError(res.status, await res.json().catch(() => null), res.headers);
    const url = URL.createObjectURL(await res.blob());
    const a = /** @type {HTMLAnchorElement} */ (el('a'));
    a.href = url;
    a.download = 'do-not-call.csv';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    dncResult('Exported the do-not-call list.', 'good');
  } catch (err) {
    dncResult(`Export failed: ${apiProblem(err)}.`, 'bad');
  }
}

function wireDoNotCall() {
  $('dnc-search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    dncView.query = input('dnc-query').value.trim();
    void loadDoNotCall();
  });
  $('dnc-add-form').addEventListener('submit', (e) => void addDoNotCall(/** @type {SubmitEvent} */ (e)));
  $('dnc-import-form').addEventListener('submit', (e) => void importDoNotCall(/** @type {SubmitEvent} */ (e)));
  $('dnc-export').addEventListener('click', () => void exportDoNotCall());
  $('dnc-more').addEventListener('click', () => void loadDoNotCall(true));
}

/** The campaign list names each campaign's account (from the campaigns the controls loaded). */
function paintCampaignAccounts() {
  /** @type {Map<string, string>} */
  const accountOf = new Map(controls.campaigns.map((c) => [String(c.id), String(c.provider_account ?? '')]));
  for (const th of document.querySelectorAll('#campaigns-table tbody tr > th:first-child')) {
    const id = /^Campaign (\d+)$/.exec(/** @type {HTMLElement} */ (th).title)?.[1];
    const account = id ? accountOf.get(id) : undefined;
    let note = th.querySelector('[data-testid=campaign-account]');
    if (!account) {
      note?.remove();
      continue;
    }
    if (!note) {
      note = el('div', { className: 'muted campaign-account', testid: 'campaign-account' });
      th.append(note);
    }
    note.textContent = `account ${account}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in refusals. The form takes any operator credential: the admin token, a named operator token
// (op_...) or a Supabase Auth session (an access token: HS256 or, with the project's JWKS, ES256 /
// RS256). 401: not a credential (the API says why only for a validly signed session: expired...);
// 403: a signed-in Supabase user without the operator role.

/**
 * What to tell the operator when the API refused the credential, or null when it did not.
 * @param {unknown} err
 * @param {string} fallback the message for a refused token the API says nothing about
 * @returns {string | null}
 */
function credentialRefused(err, fallback) {
  if (!(err instanceof HttpError)) return null;
  if (err.status === 403) {
    return "That Supabase user does not hold the operator role (app_metadata.role 'operator'): ask an admin to grant it.";
  }
  if (err.status !== 401) return null;
  const why = err.body?.message;
  if (why === 'session expired') return 'That Supabase session has expired: sign in again with a new one.';
  return why ? `That session was refused: ${why}.` : fallback;
}

// ---------------------------------------------------------------------------------------------
// Start

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
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = '';
    $('login-error').textContent = '';
    showBanner('');
    showDashboard();
    renderStatus(data);
    state.lastRefreshAt = Date.now();
    scheduleRefresh();
    $('refresh-note').textContent = `Updated ${timeFmt.format(new Date())}`;
  } catch (err) {
    input.setAttribute('aria-invalid', 'true');
    $('login-error').textContent = credentialRefused(err, 'That admin token was refused.') ??
      `Cannot reach the scheduler API at ${state.functionsUrl}.`;
  } finally {
    submit.disabled = false;
  }
}

async function loadConfig() {
  const res = await fetch('/api/dashboard-config', { cache: 'no-store' });
  if (!res.ok) throw new Error(`/api/dashboard-config answered HTTP ${res.status}`);
  const cfg = await res.json();
  if (!cfg.functionsUrl) throw new Error('/api/dashboard-config has no functionsUrl');
  return String(cfg.functionsUrl).replace(/\/+$/, '');
}

async function main() {
  $('login-form').addEventListener('submit', (e) => void signIn(/** @type {SubmitEvent} */ (e)));
  $('sign-out').addEventListener('click', () => signOut());
  $('trigger-button').addEventListener('click', () => void triggerTick());
  $('token-form').addEventListener('submit', (e) => void createToken(/** @type {SubmitEvent} */ (e)));
  $('tokens-refresh').addEventListener('click', () => void loadTokens());
  wireControls();
  wireWaitReasons();
  wireDoNotCall();
  try {
    state.functionsUrl = await loadConfig();
  } catch (err) {
    showBanner(`The dashboard is not configured: ${err instanceof Error ? err.message : String(err)}.`);
    return;
  }
  $('functions-url').textContent = `API: ${state.functionsUrl}`;
  // The countdown ticks every second, on the second.
  setTimeout(() => {
    renderCountdown();
    setInterval(renderCountdown, 1000);
  }, 1000 - (Date.now() % 1000));
  if (state.token) {
    showDashboard();
    await refresh();
  } else {
    showLogin();
  }
}

void main();
