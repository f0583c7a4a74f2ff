// @ts-check
// The status cards and the run log, from GET /status: the last run (status, trigger, duration),
// calls launched (last run, hour, day), capacity (active calls against the global cap, queued
// calls), the provider breaker, the last run's errors and the error rate, calls answered by a
// machine (counted from the calls by when they ended, not by the tick that launched them), and the
// recent runs table. Stores the status and the server's clock offset in the shared state.

import { $, badge, badgeFor, el, fillTable } from './dom.js';
import { fmtAgo, fmtDuration, fmtInt, fmtTime, intFmt, num, plural } from './format.js';
import { state } from './state.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').StatusPayload} StatusPayload */
/** @typedef {import('../../supabase/functions/_shared/status.ts').SchedulerStatusRow} SchedulerStatusRow */
/** @typedef {import('../../supabase/functions/_shared/status.ts').RunRow} RunRow */
/** @typedef {import('../../supabase/functions/_shared/status.ts').RunError} RunError */

/** @param {StatusPayload} data */
export function renderStatus(data) {
  /** @type {Partial<SchedulerStatusRow>} */
  const s = data.status ?? {};
  state.status = s;
  state.clockOffsetMs = data.now ? new Date(data.now).getTime() - Date.now() : 0;

  // The version, and the whole scheduler paused (POST /scheduler/pause: nothing reserved or dialled)
  $('scheduler-version').textContent = data.version ? `Scheduler ${data.version}` : '';
  const paused = data.pause?.paused_at ?? null;
  const pausedBanner = $('scheduler-paused');
  pausedBanner.hidden = paused === null;
  pausedBanner.textContent = paused === null
    ? ''
    : `The scheduler is paused since ${fmtTime(paused)}${
      data.pause.paused_reason ? ` (${data.pause.paused_reason})` : ''
    }: no call is reserved or dialled until it is resumed; status callbacks are still recorded.`;

  // Last run
  const hasRun = hasLastRun(s);
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
    `${fmtInt(s.queued_calls)} queued · ${fmtInt(s.active_campaigns)} active campaign${plural(num(s.active_campaigns))}` +
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
  $('error-rate').title = `${runs} finished run${plural(runs)} in the last hour, ${fmtInt(s.failed_runs_last_hour)} failed`;
  renderErrors(errors);

  // Machine answers
  $('machine-answers').textContent = `Answered by a machine: ${fmtInt(s.machine_answers_last_hour)} in the last hour, ${
    fmtInt(s.machine_answers_last_day)
  } in the last day`;
}

/** @param {Partial<SchedulerStatusRow>} s */
export const hasLastRun = (s) => s.last_run_id !== null && s.last_run_id !== undefined;

/** "manual · 120 ms · 12 s ago" (relative: the countdown refreshes it). @param {Partial<SchedulerStatusRow>} s */
export function lastRunDetail(s) {
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

/** The recent runs table (the 15 newest). @param {RunRow[]} rows */
export function renderRuns(rows) {
  fillTable('runs-table', rows.slice(0, 15), runRow, 'no-runs');
  $('runs-table').hidden = rows.length === 0;
}

/** @param {RunRow} r */
function runRow(r) {
  const errorCount = num(r.error_count) ?? 0;
  const errorsCell = el('td', { className: `num${errorCount > 0 ? ' has-errors' : ''}`, text: fmtInt(errorCount) });
  if (errorCount > 0 && Array.isArray(r.errors)) {
    errorsCell.title = r.errors.slice(0, 5).map((e) => `${e.stage ?? 'error'}: ${e.message ?? ''}`).join('\n');
  }
  return el('tr', { testid: 'run-row' }, [
    el('td', { className: 'num mono', text: `#${r.id}` }),
    el('td', { text: fmtTime(r.started_at), title: r.started_at ?? '' }),
    el('td', { text: String(r.trigger ?? '').replace('_', ' ') }),
    el('td', {}, [badgeFor(r.status)]),
    el('td', { className: 'num', text: fmtDuration(r.duration_ms) }),
    el('td', { className: 'num', text: fmtInt(r.calls_reserved) }),
    el('td', { className: 'num', text: fmtInt(r.calls_launched) }),
    el('td', { className: 'num', text: fmtInt(r.calls_failed) }),
    errorsCell,
  ]);
}
