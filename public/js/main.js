// @ts-check
// The dashboard's entry point (index.html loads it as a module; the other modules are imported
// from here, no build step): wires every panel, reads the functions' base URL from
// /api/dashboard-config, starts the countdown, and shows the dashboard (a credential kept for this
// tab) or the sign-in form. The API and its payloads: api.js; the shared state: state.js.

import { loadAccounts, wireAccounts } from './accounts.js';
import { loadAudit, wireAudit } from './audit.js';
import { loadCampaigns, wireCampaigns } from './campaigns.js';
import { wireContactsImport } from './contacts-import.js';
import { loadDoNotCall, wireDoNotCall } from './dnc.js';
import { $ } from './dom.js';
import { wireLogin } from './login.js';
import { clearPersonIfSignedInAgain, wirePerson } from './person.js';
import { refresh, startCountdown } from './refresh.js';
import { onDashboardShown, showBanner, showDashboard, showLogin } from './session.js';
import { state } from './state.js';
import { loadTokens, wireTokens } from './tokens.js';
import { wireTrigger } from './trigger.js';
import { loadWaitReasons, wireWaitReasons } from './why-not-now.js';
import { loadWebhooks, wireWebhooks } from './webhooks.js';

async function loadConfig() {
  const res = await fetch('/api/dashboard-config', { cache: 'no-store' });
  if (!res.ok) throw new Error(`/api/dashboard-config answered HTTP ${res.status}`);
  const cfg = await res.json();
  if (!cfg.functionsUrl) throw new Error('/api/dashboard-config has no functionsUrl');
  return String(cfg.functionsUrl).replace(/\/+$/, '');
}

async function main() {
  wireLogin();
  wireTrigger();
  wireTokens();
  wireCampaigns();
  wireContactsImport();
  wireAudit();
  wireAccounts();
  wireWaitReasons();
  wireDoNotCall();
  wirePerson();
  wireWebhooks();
  // What the dashboard loads each time it is shown (the status comes with the refresh loop).
  for (const load of [loadTokens, loadCampaigns, loadAudit, loadWaitReasons, loadAccounts, loadWebhooks, () => loadDoNotCall()]) {
    onDashboardShown(load);
  }
  // Another sign-in does not see the person the previous credential looked up.
  onDashboardShown(clearPersonIfSignedInAgain);
  try {
    state.functionsUrl = await loadConfig();
  } catch (err) {
    showBanner(`The dashboard is not configured: ${err instanceof Error ? err.message : String(err)}.`);
    return;
  }
  $('functions-url').textContent = `API: ${state.functionsUrl}`;
  startCountdown();
  if (state.token) {
    showDashboard();
    await refresh();
  } else {
    showLogin();
  }
}

void main();
