// @ts-check
// The "Run tick now" button: POST /trigger (rate-limited by the API), and what the run did, was
// refused or failed with; the status refreshes after it.

import { api, apiProblem, HttpError } from './api.js';
import { $ } from './dom.js';
import { fmtDuration, fmtInt, num, plural, toneOf } from './format.js';
import { refresh } from './refresh.js';
import { gate } from './roles.js';
import { refusedForRole, signOutIfRefused } from './session.js';

/** @typedef {import('../../supabase/functions/_shared/status.ts').TickResponseBody} TickResponseBody */

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
    result.className = `trigger-result tone-${toneOf(r.status)}`;
    result.textContent = r.status === 'skipped'
      ? `Run #${r.run_id} skipped: another tick was running at that moment; it serves the same calls.`
      : `Run #${r.run_id} ${r.status}: launched ${fmtInt(r.launched)}, reserved ${fmtInt(r.reserved)}, ` +
        `${errors} error${plural(errors)} in ${fmtDuration(r.duration_ms)}.`;
  } catch (err) {
    if (signOutIfRefused(err)) return;
    result.className = 'trigger-result tone-warn';
    if (err instanceof HttpError && err.status === 429) {
      const header = Number(err.headers.get('retry-after'));
      const ms = num(err.body?.retry_after_ms) ?? (Number.isFinite(header) ? header * 1000 : 1000);
      const secs = Math.max(1, Math.ceil(ms / 1000));
      result.textContent = `Rate limited: a manual tick ran moments ago. Try again in ${secs} s.`;
    } else if (refusedForRole(err)) {
      result.textContent = `The tick was not run: ${apiProblem(err)}.`;
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
    gate(button, 'operator');
    button.removeAttribute('aria-busy');
    button.textContent = label;
    void refresh();
  }
}

export function wireTrigger() {
  $('trigger-button').addEventListener('click', () => void triggerTick());
}
