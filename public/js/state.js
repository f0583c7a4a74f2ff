// @ts-check
// The dashboard's shared session state: the functions' base URL, the operator's credential (kept in
// sessionStorage for this tab only), who it is and its role, the last status answer and the refresh
// loop's bookkeeping.
// Every module reads and writes this one object; nothing else is kept between calls.

/** @typedef {import('../../supabase/functions/_shared/status.ts').SchedulerStatusRow} SchedulerStatusRow */

export const TOKEN_KEY = 'campaign-scheduler.admin-token';
/** The status refresh period. */
export const REFRESH_MS = 5000;

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
 *   actor: string,
 *   role: '' | 'viewer' | 'operator' | 'admin',
 * }}
 */
export const state = {
  functionsUrl: '',
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  status: null,
  /** server clock minus browser clock, from the `now` of the last status answer */
  clockOffsetMs: 0,
  refreshTimer: undefined,
  refreshing: false,
  lastAnnounced: '',
  lastRefreshAt: 0,
  /** who the credential is and its role (GET /whoami); '' until known (then nothing is held back) */
  actor: '',
  role: '',
};
