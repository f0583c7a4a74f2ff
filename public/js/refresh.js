// @ts-check
// The status loop: GET /status every 5 s while signed in (a refused credential signs out; an
// unreachable API shows the banner and keeps retrying), what an answer updates, and the next-run
// countdown (every second, announced to screen readers at 30 s, 10 s and when due).

import { api, HttpError } from './api.js';
import { renderCampaigns } from './campaign-list.js';
import { $ } from './dom.js';
import { fmtCountdown, fmtTime, serverNow, timeFmt } from './format.js';
import { hasLastRun, lastRunDetail, renderRuns, renderStatus } from './metrics.js';
import { showBanner, showDashboard, signOutIfRefused } from './session.js';
import { REFRESH_MS, state } from './state.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').StatusPayload} StatusPayload */

/** Shows a status answer: the dashboard, its cards and tables, the countdown. @param {StatusPayload} data */
export function applyStatus(data) {
  showBanner('');
  showDashboard();
  renderStatus(data);
  renderCampaigns(Array.isArray(data.campaigns) ? data.campaigns : []);
  renderRuns(Array.isArray(data.runs) ? data.runs : []);
  renderCountdown();
}

export function markUpdated() {
  $('refresh-note').textContent = `Updated ${timeFmt.format(new Date())}`;
}

export function scheduleRefresh(ms = REFRESH_MS) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => void refresh(), ms);
}

export async function refresh() {
  if (!state.token || state.refreshing) return;
  state.refreshing = true;
  state.lastRefreshAt = Date.now();
  try {
    applyStatus(/** @type {StatusPayload} */ (await api('GET', '/status')));
    markUpdated();
  } catch (err) {
    if (signOutIfRefused(err)) return;
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

export function renderCountdown() {
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
  if (hasLastRun(s)) $('last-run-detail').textContent = lastRunDetail(s);
}

/** @param {string} message */
function announce(message) {
  if (state.lastAnnounced === message) return;
  state.lastAnnounced = message;
  $('countdown-announcer').textContent = message;
}

/** The countdown ticks every second, on the second. */
export function startCountdown() {
  setTimeout(() => {
    renderCountdown();
    setInterval(renderCountdown, 1000);
  }, 1000 - (Date.now() % 1000));
}
