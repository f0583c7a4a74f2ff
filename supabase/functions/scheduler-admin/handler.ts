// scheduler-admin: what the dashboard (and scripts) talk to. Every route needs an operator
// credential (operator-auth.ts: ADMIN_TOKEN, ADMIN_TOKEN_PREVIOUS during a rotation, or a named
// operator token, or a Supabase Auth access token of a user with app_metadata.role 'viewer',
// 'operator' or 'admin': HS256 when SUPABASE_JWT_SECRET is set, ES256 / RS256 with the project's
// JWKS), sent as Authorization: Bearer; never the cron secret. No credential, or a bad one: 401
// (counted); a valid session of a user without a scheduler role: 403 {error: 'forbidden', message}.
//
// Every route needs a role (ROUTE_ROLES below; roles.ts: viewer < operator < admin), checked before
// anything is read or written: a credential whose role is lower gets 403 {error: 'forbidden',
// message, role, needed_role} and nothing changes. [v] viewer, [o] operator, [a] admin:
//
//   GET    /whoami         [v] {actor, role, kind, token_id}: the credential presented (never the token)
//   GET    /status         [v] last run, next run, counts, campaigns, recent runs
//   GET    /wait-reasons   [v] why not now: {now, reasons: [ContactWaitRow...]} (contact_wait_reasons)
//   GET    /contacts?phone=<number>  [v] one person's story (contact_story): {phone, do_not_call, contacts:
//                          [{..., calls: [{..., evidence}]}]}; the number in E.164 (spaces, dashes, dots
//                          and parentheses are ignored); a number nobody has: {phone, do_not_call, contacts: []}
//   GET    /contacts/<id>  [v] the story of that contact's number; 404 when there is no such contact
//   POST   /trigger        [o] a manual tick (rate-limited in the database); audited as tick.trigger
//   GET    /tokens         [a] the named operator tokens with role, creator and state (never a token or its hash)
//   POST   /tokens         [a] {name, role? (viewer), expires_in_days? (90; at most 365)}
//                          -> {id, name, role, created_at, expires_at, token}: the token, shown once. A role
//                          above the caller's: 403. A token made by a named token never outlives it. A
//                          name of digits only: 400 (ids are numbers; names are never ids)
//   DELETE /tokens/<id>    [a] revokes the live token with that id (never a name: 400 for anything but an id)
//   POST   /tokens/revoke-by-creator  [a] {created_by} -> {revoked: [{id, name, created_by, revoked_at}...]}:
//                          every live token that credential made (created_by as listed, or its leading part:
//                          operator:<id>, user:<sub>), and the tokens those made
//   GET    /campaigns      {campaigns: [row...]} (newest first)  [v]
//   POST   /campaigns      CampaignCreate (_shared/campaign-schema.ts) -> 201 row; audited campaign.create  [o]
//   GET    /campaigns/<id> the row  [v]
//   PATCH  /campaigns/<id> CampaignPatch -> the row after; audited campaign.update (before/after)  [o]
//   GET    /campaigns/<id>/preview-action?action=pause|resume|cancel  [v]
//                          -> {allowed, reason, status, status_after, queued_calls_released,
//                              active_calls_finishing, pending_contacts_ended, pending_contacts}
//   POST   /campaigns/<id>/pause|resume|cancel  [o]
//                          -> {campaign, queued_calls_released, active_calls_finishing, pending_contacts_ended};
//                             409 when the status does not allow it; audited campaign.<action>
//   POST   /campaigns/<id>/contacts?region=US&delimiter=%3B&line_offset=N   (text/csv body, streamed)  [o]
//                          -> ImportReport (_shared/contacts-csv.ts): {rows, imported, duplicates,
//                             duplicate_lines, errors_total, errors: [{line, column, reason}], complete,
//                             stopped, committed_through_line, batches}; 422 when the file stopped
//                             part-way (what was imported before is said); audited contacts.import
//   PATCH  /campaigns/<id>/contacts/<contact id>   ContactConsentPatch (_shared/contact-schema.ts):  [o]
//                          {consent_at?, consent_method?, consent_source?, consent_expires_at?} (null clears)
//                          -> {id, campaign_id, phone, status, consent_*}; 404 when the campaign has no such
//                          contact; audited contact.consent (the evidence before/after)
//   POST   /campaigns/<id>/leads   one contact as JSON with a priority: see contacts-route.ts  [o]
//   PUT    /campaigns/<id>/contacts/<contact id>/callback   {at}: a scheduled callback: see contacts-route.ts  [o]
//   GET    /campaigns/<id>/export   text/csv: the contacts with their outcomes and consent evidence  [v]
//                          (formula-safe cells; the consent columns import back as they are)
//   GET    /campaigns/<id>/calls-export   text/csv: one row per attempt: its times, outcome, provider call  [v]
//                          id, and what allowed it (zones checked and their source, matching rules, consent)
//   GET    /accounts       {accounts: [AccountJson...]}: the provider accounts (view scheduler_account_status):  [v]
//                          {id, provider, account_sid, calls_per_second (effective), own_calls_per_second (null: the
//                          global setting), max_concurrent_calls (null: no own cap), active_calls,
//                          queued_calls, breaker_state, breaker_open_until, breaker_consecutive_failures,
//                          breaker_last_failure_reason, campaigns, live_campaigns, campaign_ids, created_at,
//                          updated_at}
//   POST   /accounts       AccountCreate (_shared/account-schema.ts) -> 201 AccountJson; 409 when the id is  [a]
//                          taken; audited account.create
//   GET    /accounts/<id>  AccountJson  [v]
//   PATCH  /accounts/<id>  AccountPatch {account_sid?, calls_per_second?, max_concurrent_calls?} (null:  [a]
//                          TWILIO_ACCOUNT_SID / inherit / no cap)
//                          -> AccountJson after; audited account.update (before/after). Never touches the
//                          rate bucket (next_send_at).
//   DELETE /accounts/<id>  -> {deleted: row}; 409 naming the campaigns when campaigns dial through it (and for  [a]
//                          'default'); audited account.delete
//   GET    /do-not-call?q=<text>&after=<phone>&limit=N  [v]
//                          {numbers: [{phone, reason, added_at, added_by}...], next_after}: the do-not-call
//                          list in phone order, the numbers containing q (digits, with or without +) or
//                          whose reason contains it; next_after: the after= of the next page (null: last)
//   POST   /do-not-call    {phone (E.164), reason} -> 201 {added: true, row, contacts_marked} (its pending  [o]
//                          contacts become do_not_call at once); 200 {added: false, row} when already
//                          listed (nothing changes); audited do_not_call.add
//   DELETE /do-not-call/<phone>  {reason} (required) -> {removed: row, reason, contacts_still_do_not_call};  [o]
//                          404 when not listed; audited do_not_call.remove. Contacts marked do_not_call stay
//                          so (nothing is dialled again behind the operator's back).
//   POST   /do-not-call/import   (text/csv body: phone,reason) -> {rows, added, already_listed,  [o]
//                          errors_total, errors: [{line, reason}]}: invalid rows named by line, valid ones
//                          kept; 400 naming the line when the file is not readable CSV (nothing
//                          written); each number added audited do_not_call.import
//   GET    /do-not-call/export   text/csv phone,reason,added_at,added_by (formula-safe cells)  [v]
//   GET    /calling-hours-rules  {rules: [{id, prefix, state, start_time, end_time, days, holidays, enabled,  [v]
//                          purposes, max_calls_per_24h, citation, effective_date, note}...]}: federal rules
//                          first, then by state and area code
//   PATCH  /calling-hours-rules  {id | state (USPS code), enabled, reason} -> {enabled, reason, changed: [ids],  [a]
//                          rules}: one rule or every rule of a state turned on or off; 404 when none
//                          matched; each change audited calling_hours_rule.enable / .disable (with the reason)
//   GET    /audit?limit=N  {entries: [{id, at, actor, actor_role, action, subject, before, after}...]} newest first  [v]
//
// A request the schema refuses: 400 {error: 'bad_request', message, issues: [{field, message}]}; a
// value the database refuses (CHECK constraint): 400 {error: 'bad_request', field, message}; a campaign
// naming an unknown provider account: 400 {error: 'bad_request', field: 'provider_account', message:
// 'unknown provider account "x"'}.
//
// Failed authentication is counted per source (auth-limit.ts): 429 with Retry-After over the limit.
// CORS answers only the configured dashboard origins (DASHBOARD_ORIGIN).

import { z } from 'zod';
import { errorResponse, HttpError, jsonResponse, readBodyLimited } from '../_shared/http.ts';
import { startTick, type TickDeps } from '../_shared/tick.ts';
import { waitUntil } from '../_shared/edge-runtime.ts';
import {
  type Actor,
  addDoNotCall,
  applyCampaignAction,
  createAccount,
  createCampaign,
  createOperatorToken,
  deleteAccount,
  exportCallsPage,
  exportContactsPage,
  importContactsBatch,
  importDoNotCallBatch,
  listAccounts,
  listAuditLog,
  listCallingHoursRules,
  listCampaigns,
  listOperatorTokens,
  previewCampaignAction,
  readAccount,
  readCampaign,
  readContactStory,
  readStatus,
  readWaitReasons,
  recordOperatorAction,
  removeDoNotCall,
  revokeOperatorToken,
  revokeOperatorTokensByCreator,
  searchDoNotCall,
  setCallingHoursRuleEnabled,
  setContactConsent,
  updateAccount,
  updateCampaign,
} from '../_shared/queries.ts';
import { ACCOUNT_CONSTRAINT_FIELDS, ACCOUNT_ID_PATTERN, AccountCreate, AccountPatch } from '../_shared/account-schema.ts';
import { importContactsCsv, isRegion } from '../_shared/contacts-csv.ts';
import { CONTACT_CONSTRAINT_FIELDS, ContactConsentPatch } from '../_shared/contact-schema.ts';
import { csvLine } from '../_shared/csv-export.ts';
import { contactRoutes } from './contacts-route.ts';
import { DoNotCallCsvError, parseDoNotCallCsv } from '../_shared/do-not-call-csv.ts';
import { E164_PATTERN, isE164 } from '../_shared/phone.ts';
import { insecureUrlProblem } from '../_shared/config.ts';
import {
  CAMPAIGN_ACTIONS,
  CAMPAIGN_CONSTRAINT_FIELDS,
  CampaignCreate,
  CampaignPatch,
  describeIssues,
} from '../_shared/campaign-schema.ts';
import { type StatusPayload, tickResponseBody, type WaitReasonsPayload } from '../_shared/status.ts';
import type { Logger } from '../_shared/log.ts';
import { coerceError } from '../_shared/errors.ts';
import { corsHeaders } from '../_shared/cors.ts';
import { authenticateOperator, generateOperatorToken, type OperatorIdentity, sha256 } from '../_shared/operator-auth.ts';
import type { SessionKeys } from '../_shared/jwks.ts';
import { type OperatorRole, OperatorRoleSchema, roleAtLeast } from '../_shared/roles.ts';
import { type AuthLimitConfig, createAuthFailureLimiter, type ServeInfo } from '../_shared/auth-limit.ts';

export interface AdminHandlerOptions {
  adminToken: string;
  adminTokenPrevious?: string | undefined;
  /** SUPABASE_JWT_SECRET: HS256 Supabase Auth sessions of operator users are accepted when set. */
  jwtSecret?: string | undefined;
  /** The project's JWKS (SUPABASE_JWKS_URL / SUPABASE_URL): ES256 / RS256 sessions are accepted when set. */
  jwks?: SessionKeys | undefined;
  deps: TickDeps;
  log: Logger;
  /** Browser origins allowed to call (CORS); ['*'] only when configured so; [] none. */
  allowedOrigins: readonly string[];
  authLimit: AuthLimitConfig;
  /** ALLOW_INSECURE_URLS: a campaign's answer URL may be http:// (local development only). */
  allowInsecureUrls?: boolean;
  now?: () => Date;
}

/** Token lifetimes (the database holds the same bounds: create_operator_token, operator_tokens). */
export const TOKEN_DEFAULT_DAYS = 90;
export const TOKEN_MAX_DAYS = 365;

const NewToken = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'name: 1-64 letters, digits, . _ @ - (starting with a letter or digit)')
      .refine(
        (n) => !/^[0-9]+$/.test(n),
        'name: not digits only (a token is revoked by its id, a number; a name must never look like one)',
      ),
    role: OperatorRoleSchema.default('viewer'),
    expires_in_days: z.number().positive().max(TOKEN_MAX_DAYS, `expires_in_days: at most ${TOKEN_MAX_DAYS}`).optional(),
  })
  .strict();

const RevokeByCreator = z
  .object({
    created_by: z.string().trim().min(1, 'created_by: the credential, as the token list names it').max(200).regex(
      /^\S+$/,
      'created_by: no spaces',
    ),
  })
  .strict();

const TOKEN_ID = /^[1-9][0-9]{0,17}$/;

/**
 * The role each route needs (method, path under /scheduler-admin). A route not listed is 404. The
 * check comes before anything is read or written.
 */
export const ROUTE_ROLES: ReadonlyArray<readonly [method: string, path: RegExp, role: OperatorRole]> = [
  ['GET', /^\/whoami$/, 'viewer'],
  ['GET', /^\/status$/, 'viewer'],
  ['GET', /^\/wait-reasons$/, 'viewer'],
  ['GET', /^\/contacts$/, 'viewer'],
  ['GET', /^\/contacts\/[^/]+$/, 'viewer'],
  ['GET', /^\/campaigns$/, 'viewer'],
  ['GET', /^\/campaigns\/[^/]+$/, 'viewer'],
  ['GET', /^\/campaigns\/[^/]+\/(preview-action|export|calls-export)$/, 'viewer'],
  ['GET', /^\/accounts$/, 'viewer'],
  ['GET', /^\/accounts\/[^/]+$/, 'viewer'],
  ['GET', /^\/do-not-call$/, 'viewer'],
  ['GET', /^\/do-not-call\/export$/, 'viewer'],
  ['GET', /^\/audit$/, 'viewer'],
  ['POST', /^\/trigger$/, 'operator'],
  ['POST', /^\/campaigns$/, 'operator'],
  ['PATCH', /^\/campaigns\/[^/]+$/, 'operator'],
  ['POST', /^\/campaigns\/[^/]+\/(pause|resume|cancel|contacts)$/, 'operator'],
  ['PATCH', /^\/campaigns\/[^/]+\/contacts\/[^/]+$/, 'operator'],
  ['POST', /^\/campaigns\/[^/]+\/leads$/, 'operator'],
  ['PUT', /^\/campaigns\/[^/]+\/contacts\/[^/]+\/callback$/, 'operator'],
  ['POST', /^\/do-not-call$/, 'operator'],
  ['POST', /^\/do-not-call\/import$/, 'operator'],
  ['DELETE', /^\/do-not-call\/[^/]+$/, 'operator'],
  ['GET', /^\/tokens$/, 'admin'],
  ['POST', /^\/tokens$/, 'admin'],
  ['POST', /^\/tokens\/revoke-by-creator$/, 'admin'],
  ['DELETE', /^\/tokens\/[^/]+$/, 'admin'],
  ['POST', /^\/accounts$/, 'admin'],
  ['PATCH', /^\/accounts\/[^/]+$/, 'admin'],
  ['DELETE', /^\/accounts\/[^/]+$/, 'admin'],
  ['GET', /^\/calling-hours-rules$/, 'viewer'],
  ['PATCH', /^\/calling-hours-rules$/, 'admin'],
];

/** The role a request needs, or null: no such route. */
export function requiredRole(method: string, path: string): OperatorRole | null {
  for (const [m, re, role] of ROUTE_ROLES) if (m === method && re.test(path)) return role;
  return null;
}

function subPath(req: Request): string {
  const path = new URL(req.url).pathname.replace(/\/+$/, '');
  const i = path.indexOf('/scheduler-admin');
  return i >= 0 ? path.slice(i + '/scheduler-admin'.length) || '/' : path || '/';
}

async function readJson(req: Request, maxBytes = 4096): Promise<unknown> {
  const text = await readBodyLimited(req, maxBytes);
  if (!/^application\/json\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new HttpError(415, 'body must be application/json', 'unsupported_media_type');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON', 'bad_request');
  }
}

/** A request body the schema refused: 400 naming each field. */
class InvalidFields extends HttpError {
  constructor(readonly issues: Array<{ field: string; message: string }>) {
    super(400, issues.map((i) => `${i.field}: ${i.message}`).join('; '), 'bad_request');
  }
}

/** A database refusal the caller can fix (a name taken, a bad value, a wrong state), as a 4xx. */
function asHttpError(err: unknown): HttpError | undefined {
  const e = err as { code?: unknown; constraint?: unknown; column?: unknown };
  const message = coerceError(err).message;
  if (e?.code === '23505') return new HttpError(409, message, 'conflict');
  // 42501: a token of a role above its maker's (create_operator_token)
  if (e?.code === '42501') return new HttpError(403, message, 'forbidden');
  // 23503: a campaign naming an unknown provider account (or, at the end, an account deleted under a campaign)
  if (e?.code === '23503') {
    if (e.constraint === 'campaigns_provider_account_fkey' && !/^update or delete on table/.test(message)) {
      return new InvalidFields([{ field: 'provider_account', message }]);
    }
    return new HttpError(409, message, 'conflict');
  }
  if (e?.code === '55000') return new HttpError(409, message, 'conflict');
  if (e?.code === '23514' || e?.code === '23502') {
    const field = typeof e.constraint === 'string'
      ? CAMPAIGN_CONSTRAINT_FIELDS[e.constraint] ?? ACCOUNT_CONSTRAINT_FIELDS[e.constraint] ??
        CONTACT_CONSTRAINT_FIELDS[e.constraint]
      : undefined;
    const column = typeof e.column === 'string' ? e.column : undefined;
    if (field ?? column) return new InvalidFields([{ field: (field ?? column)!, message }]);
    return new HttpError(400, message, 'bad_request');
  }
  // 22023 invalid_parameter_value, 22007/22008 bad date/time, 22P02 bad text representation, 22003 out of range
  if (e?.code === '22023' || e?.code === '22007' || e?.code === '22008' || e?.code === '22P02' || e?.code === '22003') {
    return new HttpError(400, message, 'bad_request');
  }
  return undefined;
}

function errorAnswer(err: HttpError): Response {
  if (err instanceof InvalidFields) {
    return jsonResponse({
      error: err.code,
      message: err.message,
      issues: err.issues,
      ...(err.issues.length === 1 ? { field: err.issues[0]!.field } : {}),
    }, 400);
  }
  return errorResponse(err);
}

const CAMPAIGN_ID = /^[1-9][0-9]{0,17}$/;

/** 403 for a credential whose role is too low: says which role it holds and which is needed. */
function forbidden(role: OperatorRole, needed: OperatorRole, why: string): Response {
  return jsonResponse(
    {
      error: 'forbidden',
      message: `${why}; this credential is ${role === 'admin' ? 'an' : 'a'} ${role}`,
      role,
      needed_role: needed,
    },
    403,
  );
}

const DoNotCallReason = z.string().trim().min(1, 'a reason is required').max(500, 'at most 500 characters');
const NewDoNotCall = z
  .object({
    phone: z.string().trim().regex(E164_PATTERN, 'an E.164 number: + then 7 to 15 digits, e.g. +15551230000'),
    reason: DoNotCallReason,
  })
  .strict();
const DoNotCallRemoval = z.object({ reason: DoNotCallReason }).strict();
/** PATCH /calling-hours-rules: one rule (id) or every rule of a state, on or off, with a reason. */
const CallingHoursRuleSwitch = z
  .object({
    id: z.number().int().min(1).optional(),
    state: z.string().trim().regex(/^[A-Za-z]{2}$/, 'state: a two-letter USPS code such as FL').optional(),
    enabled: z.boolean(),
    reason: DoNotCallReason,
  })
  .strict()
  .refine((b) => (b.id === undefined) !== (b.state === undefined), 'give exactly one of id and state');
const DNC_EXPORT_COLUMNS = ['phone', 'reason', 'added_at', 'added_by'] as const;

export function createAdminHandler(opts: AdminHandlerOptions): (req: Request, info?: ServeInfo) => Promise<Response> {
  const now = opts.now ?? (() => new Date());
  /** A campaign's answer URL (provider_settings.url): https:// unless ALLOW_INSECURE_URLS (400 naming it). */
  const refuseInsecureAnswerUrl = (settings: Record<string, unknown> | undefined) => {
    const url = settings?.url;
    if (typeof url !== 'string' || url === '') return;
    const problem = insecureUrlProblem(url, opts.allowInsecureUrls ?? false);
    if (problem) throw new InvalidFields([{ field: 'provider_settings.url', message: problem }]);
  };
  const limiter = createAuthFailureLimiter({
    db: opts.deps.pool,
    functionName: 'scheduler-admin',
    config: opts.authLimit,
    log: opts.log,
    now,
  });
  const db = opts.deps.pool;

  const importContacts = async (
    req: Request,
    id: string,
    a: Actor,
  ): Promise<Response> => {
    const campaign = await readCampaign(db, id);
    if (!campaign) {
      await req.body?.cancel().catch(() => undefined);
      return jsonResponse({ error: 'not_found', message: 'no campaign with that id' }, 404);
    }
    if (campaign.status === 'CANCELLED' || campaign.status === 'COMPLETED') {
      await req.body?.cancel().catch(() => undefined);
      throw new HttpError(409, `campaign ${id} is ${campaign.status.toLowerCase()}: contacts cannot be added`, 'conflict');
    }
    if (!/^text\/(csv|plain)\b/i.test(req.headers.get('content-type') ?? '')) {
      throw new HttpError(415, 'body must be text/csv (UTF-8)', 'unsupported_media_type');
    }
    const q = new URL(req.url).searchParams;
    const region = q.get('region')?.toUpperCase() || undefined;
    if (region !== undefined && !isRegion(region)) throw new HttpError(400, 'region: an ISO 3166 code such as US or FR');
    const delimiter = q.get('delimiter') ?? ',';
    if (![',', ';', '\t', '|'].includes(delimiter)) throw new HttpError(400, 'delimiter: one of , ; | or tab (%09)');
    const lineOffset = Number(q.get('line_offset') ?? '0');
    if (!Number.isInteger(lineOffset) || lineOffset < 0) throw new HttpError(400, 'line_offset: a whole number');
    const report = await importContactsCsv(req.body ?? new ReadableStream({ start: (c) => c.close() }), {
      region,
      delimiter,
      lineOffset,
      batchSize: 1000,
      maxBytes: 64 * 1024 * 1024,
      writeBatch: (rows) => importContactsBatch(db, id, rows, now()),
    });
    await recordOperatorAction(db, {
      ...a,
      action: 'contacts.import',
      subject: `campaign ${id}`,
      before: null,
      after: { ...report, errors: report.errors.slice(0, 20), duplicate_lines: report.duplicate_lines.slice(0, 20) },
      now: now(),
    });
    return jsonResponse(
      report.complete
        ? report
        : { error: 'csv_stopped', message: `${report.stopped!.reason}; ${report.imported} rows imported before it`, ...report },
      report.complete ? 200 : 422,
    );
  };

  const EXPORT_COLUMNS = [
    'id',
    'phone',
    'name',
    'time_zone',
    'status',
    'attempts',
    'last_call_status',
    'last_error',
    'next_attempt_at',
    'created_at',
    'updated_at',
    'metadata',
    'calling_zones',
    'zone_source',
    'consent_at',
    'consent_method',
    'consent_source',
    'consent_expires_at',
  ] as const;
  const CALL_EXPORT_COLUMNS = [
    'call_id',
    'contact_id',
    'phone',
    'attempt',
    'status',
    'queued_at',
    'dialed_at',
    'provider_accepted_at',
    'ringing_at',
    'answered_at',
    'ended_at',
    'released_at',
    'duration_seconds',
    'answered_by',
    'error_code',
    'error',
    'provider_call_id',
    'checked_at',
    'checked_zones',
    'zone_source',
    'rules',
    'consent_at',
    'consent_method',
    'consent_source',
    'consent_expires_at',
  ] as const;
  /** A campaign's rows as a CSV download, read in keyset pages of 2,000 while it streams. */
  const csvExport = async <R extends Record<string, unknown>>(
    id: string,
    columns: readonly string[],
    page: (after: string) => Promise<R[]>,
    key: (row: R) => string,
    filename: string,
  ): Promise<Response> => {
    if (!(await readCampaign(db, id))) return jsonResponse({ error: 'not_found', message: 'no campaign with that id' }, 404);
    const encoder = new TextEncoder();
    let after = '0';
    let headerSent = false;
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(encoder.encode(csvLine(columns)));
          return;
        }
        const rows = await page(after);
        if (rows.length === 0) {
          controller.close();
          return;
        }
        after = key(rows[rows.length - 1]!);
        controller.enqueue(encoder.encode(rows.map((r) => csvLine(columns.map((c) => r[c]))).join('')));
      },
    });
    return new Response(body, {
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${filename}"`,
        'cache-control': 'no-store',
      },
    });
  };
  const exportContacts = (id: string): Promise<Response> =>
    csvExport(id, EXPORT_COLUMNS, (after) => exportContactsPage(db, id, after, 2000), (r) => r.id, `campaign-${id}-contacts.csv`);
  const exportCalls = (id: string): Promise<Response> =>
    csvExport(
      id,
      CALL_EXPORT_COLUMNS,
      (after) => exportCallsPage(db, id, after, 2000),
      (r) => r.call_id,
      `campaign-${id}-calls.csv`,
    );

  // Provider accounts: list, create, read, change rate / cap, delete (when no campaign uses it).
  const accountRoutes = async (
    req: Request,
    route: string,
    actor: () => Actor,
  ): Promise<Response | undefined> => {
    if (route === 'GET /accounts') return jsonResponse({ accounts: await listAccounts(db) });
    if (route === 'POST /accounts') {
      const parsed = AccountCreate.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      return jsonResponse(await createAccount(db, parsed.data, actor()), 201);
    }
    const one = /^(GET|PATCH|DELETE) \/accounts\/([^/]+)$/.exec(route);
    if (!one) return undefined;
    const [, method, id] = one as unknown as [string, string, string];
    const noAccount = () => jsonResponse({ error: 'not_found', message: `no provider account "${id}"` }, 404);
    if (!ACCOUNT_ID_PATTERN.test(id)) {
      await req.body?.cancel().catch(() => undefined);
      return jsonResponse({ error: 'not_found', message: 'no provider account with that id' }, 404);
    }
    if (method === 'GET') return (await readAccount(db, id).then((a) => a && jsonResponse(a))) ?? noAccount();
    if (method === 'PATCH') {
      const parsed = AccountPatch.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const row = await updateAccount(db, id, parsed.data, actor());
      return row ? jsonResponse(row) : noAccount();
    }
    await readBodyLimited(req, 1024); // DELETE: nothing expected; refuse big bodies
    const deleted = await deleteAccount(db, id, actor());
    return deleted ? jsonResponse({ deleted }) : noAccount();
  };

  // The do-not-call list: search, add, remove (reason required), CSV import and export.
  const doNotCallRoutes = async (
    req: Request,
    route: string,
    actor: () => Actor,
  ): Promise<Response | undefined> => {
    if (route === 'GET /do-not-call') {
      const q = new URL(req.url).searchParams;
      const query = (q.get('q') ?? '').trim();
      if (query.length > 100) throw new HttpError(400, 'q: at most 100 characters');
      const after = q.get('after') || null;
      if (after !== null && after.length > 20) throw new HttpError(400, 'after: a phone number from next_after');
      const limit = Number(q.get('limit') ?? '100');
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit: 1 to 1000');
      const page = await searchDoNotCall(db, { query, after, limit: limit + 1 });
      const numbers = page.slice(0, limit);
      return jsonResponse({ numbers, next_after: page.length > limit ? numbers[numbers.length - 1]!.phone : null });
    }
    if (route === 'POST /do-not-call') {
      const parsed = NewDoNotCall.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const result = await addDoNotCall(db, parsed.data.phone, parsed.data.reason, actor());
      return jsonResponse(result, result.added ? 201 : 200);
    }
    if (route === 'POST /do-not-call/import') {
      if (!/^text\/(csv|plain)\b/i.test(req.headers.get('content-type') ?? '')) {
        await req.body?.cancel().catch(() => undefined);
        throw new HttpError(415, 'body must be text/csv (UTF-8)', 'unsupported_media_type');
      }
      const text = await readBodyLimited(req, 16 * 1024 * 1024);
      let csv;
      try {
        csv = await parseDoNotCallCsv(text);
      } catch (err) {
        if (err instanceof DoNotCallCsvError) {
          return jsonResponse({ error: 'bad_request', message: err.message, line: err.line }, 400);
        }
        throw err;
      }
      let added = 0;
      let alreadyListed = 0;
      for (let i = 0; i < csv.rows.length; i += 1000) {
        for (const r of await importDoNotCallBatch(db, csv.rows.slice(i, i + 1000), actor())) {
          if (r.outcome === 'added') added++;
          else alreadyListed++;
        }
      }
      return jsonResponse({
        rows: csv.seen,
        added,
        already_listed: alreadyListed,
        errors_total: csv.errors.length,
        errors: csv.errors.slice(0, 1000),
      });
    }
    if (route === 'GET /do-not-call/export') {
      const encoder = new TextEncoder();
      let after: string | null = null;
      let headerSent = false;
      let done = false;
      const body = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          if (!headerSent) {
            headerSent = true;
            controller.enqueue(encoder.encode(csvLine(DNC_EXPORT_COLUMNS)));
            return;
          }
          const page = done ? [] : await searchDoNotCall(db, { query: '', after, limit: 5000 });
          if (page.length === 0) {
            controller.close();
            return;
          }
          if (page.length < 5000) done = true;
          after = page[page.length - 1]!.phone;
          controller.enqueue(encoder.encode(page.map((r) => csvLine(DNC_EXPORT_COLUMNS.map((c) => r[c]))).join('')));
        },
      });
      return new Response(body, {
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': 'attachment; filename="do-not-call.csv"',
          'cache-control': 'no-store',
        },
      });
    }
    const removal = /^DELETE \/do-not-call\/([^/]{1,64})$/.exec(route);
    if (removal?.[1]) {
      let phone: string;
      try {
        phone = decodeURIComponent(removal[1]).trim();
      } catch {
        throw new HttpError(400, 'the phone number is not valid URL encoding', 'bad_request');
      }
      const parsed = DoNotCallRemoval.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const result = E164_PATTERN.test(phone) ? await removeDoNotCall(db, phone, parsed.data.reason, actor()) : null;
      return result ? jsonResponse(result) : jsonResponse({ error: 'not_found', message: 'that number is not on the list' }, 404);
    }
    return undefined;
  };

  const routes = async (req: Request, who: OperatorIdentity): Promise<Response> => {
    const route = `${req.method} ${subPath(req)}`;
    const audit = (action: string, subject: string | null, before: unknown, after: unknown) =>
      recordOperatorAction(db, {
        actor: who.actor,
        actorTokenId: who.tokenId,
        actorRole: who.role,
        action,
        subject,
        before,
        after,
        now: now(),
      });
    const actor = (): Actor => ({ actor: who.actor, actorTokenId: who.tokenId, actorRole: who.role, now: now() });

    if (route === 'GET /whoami') {
      return jsonResponse({ actor: who.actor, role: who.role, kind: who.kind, token_id: who.tokenId });
    }

    if (route === 'GET /status') {
      const payload: StatusPayload = { now: now().toISOString(), ...(await readStatus(db)) };
      return jsonResponse(payload);
    }
    if (route === 'GET /contacts') {
      const raw = (new URL(req.url).searchParams.get('phone') ?? '').replace(/[\s().-]/g, '');
      if (!isE164(raw)) {
        throw new HttpError(400, 'phone: a number in E.164 form, e.g. +14155550100 (spaces, dashes and parentheses are ignored)');
      }
      return jsonResponse(await readContactStory(db, { phone: raw }));
    }
    const storyOf = /^GET \/contacts\/([^/]+)$/.exec(route);
    if (storyOf) {
      const id = storyOf[1]!;
      if (!/^[1-9][0-9]{0,17}$/.test(id)) throw new HttpError(400, 'contact id: a positive integer');
      const story = await readContactStory(db, { contactId: id });
      return story ? jsonResponse(story) : jsonResponse({ error: 'not_found', message: 'no contact with that id' }, 404);
    }
    if (route === 'GET /wait-reasons') {
      const payload: WaitReasonsPayload = { now: now().toISOString(), reasons: await readWaitReasons(db) };
      return jsonResponse(payload);
    }
    if (route === 'POST /trigger') {
      await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
      const { answer: result, finished } = await startTick(opts.deps, { trigger: 'manual', scheduledFor: null, jitterMs: 0 });
      waitUntil(finished);
      if (result.status === 'rate_limited') {
        const retry = Math.ceil((result.retryAfterMs ?? 1000) / 1000);
        return jsonResponse({ error: 'rate_limited', retry_after_ms: result.retryAfterMs }, 429, {
          'retry-after': String(retry),
        });
      }
      const body = tickResponseBody(result);
      await audit('tick.trigger', body.run_id === null ? null : `run ${body.run_id}`, null, body).catch((err) =>
        opts.log.error('audit_failed', { action: 'tick.trigger', error: coerceError(err).message })
      );
      return jsonResponse(body, result.status === 'failed' ? 500 : 200);
    }
    if (route === 'GET /tokens') {
      return jsonResponse({ tokens: await listOperatorTokens(db, now()) });
    }
    if (route === 'POST /tokens') {
      const parsed = NewToken.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      if (!roleAtLeast(who.role, parsed.data.role)) {
        return forbidden(who.role, parsed.data.role, `a ${who.role} credential cannot create a ${parsed.data.role} token`);
      }
      const token = generateOperatorToken();
      const at = now();
      const expiresAt = parsed.data.expires_in_days === undefined
        ? null // the database's default: TOKEN_DEFAULT_DAYS, never past the creating token's expiry
        : new Date(at.getTime() + parsed.data.expires_in_days * 86_400_000);
      const row = await createOperatorToken(db, {
        name: parsed.data.name,
        sha256: await sha256(token),
        expiresAt,
        role: parsed.data.role,
        ...actor(),
        now: at,
      });
      // The only time the token is ever shown.
      return jsonResponse({ ...row, token }, 201);
    }
    if (route === 'POST /tokens/revoke-by-creator') {
      const parsed = RevokeByCreator.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const revoked = await revokeOperatorTokensByCreator(db, { creator: parsed.data.created_by, ...actor() });
      return jsonResponse({ revoked });
    }
    const revoke = /^DELETE \/tokens\/([^/]{1,192})$/.exec(route);
    if (revoke?.[1]) {
      await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
      if (!TOKEN_ID.test(revoke[1])) {
        throw new HttpError(400, 'a token is revoked by its id (the number in the token list), never by its name', 'bad_request');
      }
      const row = await revokeOperatorToken(db, { id: revoke[1], ...actor() });
      return row ? jsonResponse(row) : jsonResponse({ error: 'not_found', message: 'no live token with that id' }, 404);
    }

    // Campaigns
    const noCampaign = () => jsonResponse({ error: 'not_found', message: 'no campaign with that id' }, 404);
    if (route === 'GET /campaigns') {
      return jsonResponse({ campaigns: await listCampaigns(db) });
    }
    if (route === 'POST /campaigns') {
      const parsed = CampaignCreate.safeParse(await readJson(req, 65_536));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      refuseInsecureAnswerUrl(parsed.data.provider_settings);
      return jsonResponse(await createCampaign(db, parsed.data, actor()), 201);
    }
    const accountAnswer = await accountRoutes(req, route, actor);
    if (accountAnswer) return accountAnswer;
    const doNotCallAnswer = await doNotCallRoutes(req, route, actor);
    if (doNotCallAnswer) return doNotCallAnswer;
    if (route === 'GET /calling-hours-rules') return jsonResponse({ rules: await listCallingHoursRules(db) });
    if (route === 'PATCH /calling-hours-rules') {
      const parsed = CallingHoursRuleSwitch.safeParse(await readJson(req));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const { id, state, enabled, reason } = parsed.data;
      const result = await setCallingHoursRuleEnabled(db, { id: id ?? null, state: state ?? null }, enabled, reason, actor());
      return result.rules > 0
        ? jsonResponse(result)
        : jsonResponse({ error: 'not_found', message: 'no calling-hours rule matches' }, 404);
    }
    if (route === 'GET /audit') {
      const limit = Number(new URL(req.url).searchParams.get('limit') ?? '100');
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit: 1 to 1000');
      return jsonResponse({ entries: await listAuditLog(db, limit) });
    }
    const contactAnswer = await contactRoutes(db, req, route, actor, readJson);
    if (contactAnswer) return contactAnswer;
    const contact = /^PATCH \/campaigns\/([^/]+)\/contacts\/([^/]+)$/.exec(route);
    if (contact) {
      const [, id, contactId] = contact as unknown as [string, string, string];
      const noContact = () => jsonResponse({ error: 'not_found', message: 'the campaign has no contact with that id' }, 404);
      if (!CAMPAIGN_ID.test(id) || !CAMPAIGN_ID.test(contactId)) return noContact();
      const parsed = ContactConsentPatch.safeParse(await readJson(req, 65_536));
      if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
      const row = await setContactConsent(db, id, contactId, parsed.data, actor());
      return row ? jsonResponse(row) : noContact();
    }
    const one = /^(GET|PATCH|POST) \/campaigns\/([^/]+)(?:\/([a-z-]+))?$/.exec(route);
    if (one) {
      const [, method, id, verb] = one as unknown as [string, string, string, string | undefined];
      if (!CAMPAIGN_ID.test(id)) return noCampaign();
      if (method === 'GET' && verb === undefined) {
        const row = await readCampaign(db, id);
        return row ? jsonResponse(row) : noCampaign();
      }
      if (method === 'PATCH' && verb === undefined) {
        const parsed = CampaignPatch.safeParse(await readJson(req, 65_536));
        if (!parsed.success) throw new InvalidFields(describeIssues(parsed.error));
        refuseInsecureAnswerUrl(parsed.data.provider_settings);
        const row = await updateCampaign(db, id, parsed.data, actor());
        return row ? jsonResponse(row) : noCampaign();
      }
      if (method === 'GET' && verb === 'preview-action') {
        const action = new URL(req.url).searchParams.get('action') ?? '';
        if (!(CAMPAIGN_ACTIONS as readonly string[]).includes(action)) {
          throw new HttpError(400, 'action must be pause, resume or cancel');
        }
        const preview = await previewCampaignAction(db, id, action);
        return preview ? jsonResponse(preview) : noCampaign();
      }
      if (method === 'POST' && verb === 'contacts') return await importContacts(req, id, actor());
      if (method === 'GET' && verb === 'export') return await exportContacts(id);
      if (method === 'GET' && verb === 'calls-export') return await exportCalls(id);
      if (method === 'POST' && verb !== undefined && (CAMPAIGN_ACTIONS as readonly string[]).includes(verb)) {
        await readBodyLimited(req, 1024); // nothing expected; refuse big bodies
        const result = await applyCampaignAction(db, id, verb, actor());
        return result ? jsonResponse(result) : noCampaign();
      }
    }
    return jsonResponse({ error: 'not_found' }, 404);
  };

  return async (req: Request, info?: ServeInfo): Promise<Response> => {
    const cors = corsHeaders(req.headers.get('origin'), opts.allowedOrigins);
    const withCors = (res: Response) => {
      for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
      return res;
    };
    if (req.method === 'OPTIONS') return withCors(new Response(null, { status: 204 }));
    try {
      const who = await authenticateOperator(req.headers, {
        adminToken: opts.adminToken,
        adminTokenPrevious: opts.adminTokenPrevious,
        jwtSecret: opts.jwtSecret,
        jwks: opts.jwks,
        db,
        now,
      });
      // A signed-in Supabase user without the operator role: forbidden (a valid credential, not counted).
      if (who.kind === 'refused' && who.status === 403) {
        return withCors(jsonResponse({ error: 'forbidden', message: who.reason ?? 'not an operator' }, 403));
      }
      if (who.kind === 'refused') {
        const body = who.reason ? { error: 'unauthorized', message: who.reason } : { error: 'unauthorized' };
        return withCors(await limiter.refuse(req, info, () => jsonResponse(body, 401)));
      }
      const needed = requiredRole(req.method, subPath(req));
      if (needed === null) {
        await req.body?.cancel().catch(() => undefined);
        return withCors(jsonResponse({ error: 'not_found' }, 404));
      }
      if (!roleAtLeast(who.role, needed)) {
        await req.body?.cancel().catch(() => undefined);
        return withCors(forbidden(who.role, needed, `${req.method} ${subPath(req)} needs the ${needed} role`));
      }
      return withCors(await routes(req, who));
    } catch (err) {
      const known = err instanceof HttpError ? err : asHttpError(err);
      if (known) return withCors(errorAnswer(known));
      opts.log.error('admin_error', { error: coerceError(err).message });
      return withCors(jsonResponse({ error: 'internal_error' }, 500));
    }
  };
}
