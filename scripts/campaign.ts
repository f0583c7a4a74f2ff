// `npm run campaign -- <command>`: campaigns through scheduler-admin's API (the one the dashboard
// uses; called with api/_lib/functions-client.ts, as the Vercel route calls the functions), so whatever it does
// is what a deployment does, audited under the credential it presents.
//
//   list
//   show <id>
//   create --name <name> [fields]
//   edit <id> [fields]
//   import <id> <file.csv> [--region US] [--delimiter ';'] [--rows 5000]
//                                      streams the file in parts of --rows rows (one request each,
//                                      progress after each), never holding it whole
//   export <id> [--out file.csv]       the contacts with their outcomes (formula-safe cells)
//   pause|resume|cancel <id> [--yes]   prints what happens to queued and active calls and pending
//                                      contacts first; acts only with --yes (or "yes" typed on a terminal)
//   accounts [list]                    the provider accounts: rate (effective, own), cap, calls now,
//                                      breaker, campaigns dialling through each
//   accounts create <id> [--kind <twilio|signalwire|vapi|retell>] [--sid <AC...|UUID|none>] [--cps <n|default>] [--cap <n|none>]
//   accounts set <id> [--sid <AC...|none>] [--cps <n|default>] [--cap <n|none>]
//                                      an account's Twilio subaccount SID (none: TWILIO_ACCOUNT_SID), its
//                                      calls per second (default: the global setting) and its own cap of
//                                      active calls (none: only the global cap)
//   accounts delete <id>               refused while campaigns dial through it
//   dnc [list] [<text>]                the do-not-call list (every page), or the numbers containing <text>
//                                      (digits) or whose reason does
//   dnc add <+E164> --reason <text>    puts a number on the list (its pending contacts become do_not_call)
//   dnc remove <+E164> --reason <text> takes it off (the reason is required; contacts already marked
//                                      do_not_call stay so)
//   dnc import <file.csv>              phone,reason rows; invalid rows reported by line, valid ones kept
//   dnc export [--out file.csv]        the list as CSV (formula-safe cells)
//   webhooks ...                       outcome webhook endpoints, their delivery log and replays
//                                      (scripts/webhooks-cli.ts)
//   scheduler [status]                 the version, and whether the whole scheduler is paused (and why)
//   scheduler pause [--reason <text>]  pauses the whole scheduler (no call reserved or dialled;
//                                      status callbacks still recorded), e.g. for an upgrade (admin)
//   scheduler resume                   lets it go on (admin)
//   lead <id> <phone> [--priority n] [--name text] [--region US] [--time-zone IANA] [--json '{consent_at, ...}']
//                                      adds one contact (a lead) due at once, checked like a CSV row;
//                                      higher priority is called first among the campaign's due contacts
//   callback <id> <contact id> --at <ISO 8601 date-time with offset>
//                                      schedules the contact's next call at that instant (before the
//                                      campaign's other due contacts, within windows and rules)
//   person <+E164 | contact id> [--raw]  one person's story: the number's contacts in every campaign,
//                                      why each is not called now (and until when), every attempt
//                                      with its outcome and evidence, and its do-not-call entry
//
// fields: --cap <n> --priority <n> --account <provider account id> --caller-id <+E164|none> --url <url> | --twiml <xml> |
//         --application-sid <sid> (twilio, signalwire) | --assistant-id <id> --phone-number-id <id> (vapi) |
//         --agent-id <id> (retell) --time-zone <IANA> --window <HH:MM-HH:MM> --days <1,2,..7>
//         --max-attempts <n> --retry-busy <'<n> minutes'|no> --retry-no-answer <delay|no>
//         --retry-machine <delay> --retry-failed <delay|no>  (a delay: retried that long after the
//         call ended; no: that outcome is not retried; a machine answer follows machine_answer_policy)
//         --starts <ISO 8601 date-time|none> --ends <ISO 8601 date-time|none> --requires-consent <yes|no>
//         --purpose <telemarketing|informational|debt_collection|none>
//         --machine-answers <retry|done> (machine_answer_policy) --provider <twilio|signalwire|vapi|retell> (follows --account)
//         --machine-detection <Enable|DetectMessageEnd|none> --ring-timeout <seconds|none>
//         --method <GET|POST|none> (provider_settings options: on edit they change the campaign's
//         provider_settings in place; a new --url/--twiml/--application-sid replaces its call action)
//         --json '<object>'
// Checked first by the same zod schema as the API (_shared/campaign-schema.ts, _shared/account-schema.ts).
//
// Environment: SUPABASE_FUNCTIONS_URL (default http://127.0.0.1:54321/functions/v1, npm start's
// gateway), OPERATOR_TOKEN (a named token: npm run operator -- create <name> --role operator) or ADMIN_TOKEN.

import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { parse } from 'csv-parse';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createFunctionsCaller, type InvokeFunction, type InvokeOptions } from '../api/_lib/functions-client.ts';
import { CampaignCreate, CampaignPatch, describeIssues } from '../supabase/functions/_shared/campaign-schema.ts';
import { AccountCreate, AccountPatch } from '../supabase/functions/_shared/account-schema.ts';
import { runWebhooksCommand, WebhooksUsageError } from './webhooks-cli.ts';
import { NewCallback, NewLead } from '../supabase/functions/_shared/callbacks.ts';

const USAGE = `usage: npm run campaign -- list | show <id> | create --name <name> [fields] | edit <id> [fields]
                            | pause|resume|cancel <id> [--yes]
                            | import <id> <file.csv> [--region US] [--delimiter ';'] [--rows 5000]
                            | export <id> [--out file.csv]
                            | accounts [list] | accounts create|set <id> [--kind twilio|signalwire|vapi|retell] [--sid <AC...|UUID|none>] [--cps <n|default>] [--cap <n|none>]
                            | accounts delete <id>
                            | dnc [list] [<text>] | dnc add|remove <+E164> --reason <text> | dnc import <file.csv>
                            | dnc export [--out file.csv]
                            | person <+E164 | contact id> [--raw]
                            | scheduler [status] | scheduler pause [--reason <text>] | scheduler resume
                            | webhooks [list] | webhooks add --url <https://...> [--events a,b] [--secret whsec_...]
                              [--description <text>] | webhooks enable|disable|delete <id>
                            | webhooks deliveries <id> [--status pending|delivered|dead] [--rows N]
                            | webhooks replay <id> [--delivery <delivery id>]
                            | lead <id> <phone> [--priority n] [--name text] [--region US] [--time-zone IANA] [--json '{...}']
                            | callback <id> <contact id> --at 2026-12-03T15:00:00+01:00
fields: --cap --priority --account <id> --caller-id --url|--twiml|--application-sid (twilio, signalwire)
        --assistant-id --phone-number-id (vapi) --agent-id (retell) --time-zone --window HH:MM-HH:MM
        --days 1,2,3 --max-attempts --retry-busy '10 minutes'|no --retry-no-answer '2 hours'|no
        --retry-machine '4 hours' --retry-failed '30 minutes'|no
        --starts 2026-12-01T09:00:00-05:00|none --ends <date-time>|none --requires-consent yes|no
        --purpose telemarketing|informational|debt_collection|none --machine-answers retry|done --provider twilio|signalwire|vapi|retell
        --machine-detection Enable|DetectMessageEnd|none --ring-timeout <seconds>|none --method GET|POST|none
        --json '{...}'
env: SUPABASE_FUNCTIONS_URL, OPERATOR_TOKEN (or ADMIN_TOKEN)`;

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Asks a yes/no question; undefined when there is no terminal to ask on. */
  confirm?: (question: string) => Promise<boolean>;
}

class UsageError extends Error {}

const FIELD_OPTIONS = {
  name: { type: 'string' },
  cap: { type: 'string' },
  priority: { type: 'string' },
  account: { type: 'string' },
  cps: { type: 'string' },
  sid: { type: 'string' },
  kind: { type: 'string' },
  'assistant-id': { type: 'string' },
  'phone-number-id': { type: 'string' },
  'agent-id': { type: 'string' },
  'caller-id': { type: 'string' },
  url: { type: 'string' },
  twiml: { type: 'string' },
  'application-sid': { type: 'string' },
  'time-zone': { type: 'string' },
  window: { type: 'string' },
  days: { type: 'string' },
  'max-attempts': { type: 'string' },
  'retry-busy': { type: 'string' },
  'retry-no-answer': { type: 'string' },
  'retry-machine': { type: 'string' },
  'retry-failed': { type: 'string' },
  starts: { type: 'string' },
  ends: { type: 'string' },
  purpose: { type: 'string' },
  'requires-consent': { type: 'string' },
  'machine-answers': { type: 'string' },
  provider: { type: 'string' },
  'machine-detection': { type: 'string' },
  'ring-timeout': { type: 'string' },
  method: { type: 'string' },
  json: { type: 'string' },
  yes: { type: 'boolean' },
  region: { type: 'string' },
  delimiter: { type: 'string' },
  rows: { type: 'string' },
  out: { type: 'string' },
  reason: { type: 'string' },
  at: { type: 'string' },
  raw: { type: 'boolean' },
  // webhooks (webhooks-cli.ts)
  events: { type: 'string' },
  secret: { type: 'string' },
  description: { type: 'string' },
  status: { type: 'string' },
  delivery: { type: 'string' },
} as const;

function num(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} takes a number, not ${JSON.stringify(text)}`);
  return n;
}

const ACTION_KEYS = ['url', 'twiml', 'application_sid'];

/**
 * An edit's provider_settings from flags, applied to the campaign's `current` ones (the API replaces
 * provider_settings as a whole): a call action given replaces the current one, each option given
 * replaces its own, null takes it off, and the rest stays.
 */
export function mergeProviderSettings(current: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  if (ACTION_KEYS.some((k) => given[k] !== undefined)) { for (const k of ACTION_KEYS) delete merged[k]; }
  for (const [k, v] of Object.entries(given)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return merged;
}

/** The campaign fields given as flags (and --json), not yet validated. */
export function fieldsFromFlags(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (typeof values.json === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.json);
    } catch {
      throw new UsageError('--json is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UsageError('--json takes a JSON object');
    }
    Object.assign(f, parsed);
  }
  const s = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  if (s('name') !== undefined) f.name = s('name');
  if (s('cap') !== undefined) f.max_concurrent_calls = num('cap', s('cap')!);
  if (s('priority') !== undefined) f.priority = num('priority', s('priority')!);
  if (s('account') !== undefined) f.provider_account = s('account');
  if (s('caller-id') !== undefined) f.caller_id = s('caller-id') === 'none' ? null : s('caller-id');
  for (const [flag, key] of [['url', 'url'], ['twiml', 'twiml'], ['application-sid', 'application_sid']] as const) {
    if (s(flag) !== undefined) f.provider_settings = { [key]: s(flag) };
  }
  // The provider options, beside the call action (null: take the option off; see mergeProviderSettings).
  const options: Record<string, unknown> = {};
  if (s('machine-detection') !== undefined) {
    options.machine_detection = s('machine-detection') === 'none' ? null : s('machine-detection');
  }
  if (s('ring-timeout') !== undefined) {
    options.timeout = s('ring-timeout') === 'none' ? null : num('ring-timeout', s('ring-timeout')!);
  }
  if (s('method') !== undefined) options.method = s('method') === 'none' ? null : s('method')!.toUpperCase();
  if (Object.keys(options).length > 0) {
    const base = typeof f.provider_settings === 'object' && f.provider_settings !== null ? f.provider_settings : {};
    f.provider_settings = { ...base, ...options };
  }
  if (s('machine-answers') !== undefined) f.machine_answer_policy = s('machine-answers');
  if (s('provider') !== undefined) f.provider = s('provider');
  // What answers on Vapi (assistant and phone number) and Retell (an agent overriding the number's own).
  const ai: Record<string, string> = {};
  for (
    const [flag, key] of [['assistant-id', 'assistant_id'], ['phone-number-id', 'phone_number_id'], [
      'agent-id',
      'agent_id',
    ]] as const
  ) {
    if (s(flag) !== undefined) ai[key] = s(flag)!;
  }
  if (Object.keys(ai).length > 0) {
    f.provider_settings = { ...(f.provider_settings as Record<string, unknown> | undefined), ...ai };
  }
  if (s('time-zone') !== undefined) f.time_zone = s('time-zone');
  if (s('window') !== undefined) {
    const m = /^([0-9:]+)-([0-9:]+)$/.exec(s('window')!);
    if (!m) throw new UsageError('--window takes HH:MM-HH:MM (e.g. 09:00-18:00)');
    f.window_start = m[1];
    f.window_end = m[2];
  }
  if (s('days') !== undefined) f.window_days = s('days')!.split(',').map((d) => num('days', d));
  if (s('max-attempts') !== undefined) f.max_attempts = num('max-attempts', s('max-attempts')!);
  // The retry rule of each outcome: a delay (retried that long after the call ended) or no.
  for (
    const [flag, retry, delay] of [
      ['retry-busy', 'retry_busy', 'retry_busy_delay'],
      ['retry-no-answer', 'retry_no_answer', 'retry_no_answer_delay'],
      ['retry-machine', null, 'retry_machine_delay'],
      ['retry-failed', 'retry_failed', 'retry_failed_delay'],
    ] as const
  ) {
    const v = s(flag)?.trim();
    if (v === undefined) continue;
    if (v.toLowerCase() === 'no') {
      if (retry === null) throw new UsageError(`--${flag} takes a delay (machine answers follow machine_answer_policy)`);
      f[retry] = false;
    } else {
      if (retry !== null) f[retry] = true;
      f[delay] = v;
    }
  }
  if (s('starts') !== undefined) f.starts_at = s('starts') === 'none' ? null : s('starts');
  if (s('ends') !== undefined) f.ends_at = s('ends') === 'none' ? null : s('ends');
  if (s('purpose') !== undefined) f.purpose = s('purpose') === 'none' ? null : s('purpose');
  if (s('requires-consent') !== undefined) {
    const v = s('requires-consent')!.trim().toLowerCase();
    if (!['yes', 'no', 'true', 'false'].includes(v)) throw new UsageError('--requires-consent takes yes or no');
    f.requires_consent = v === 'yes' || v === 'true';
  }
  return f;
}

function describeCampaign(c: Record<string, unknown>): string {
  const problem = c.set_up_problem ? `\tcannot dial: ${String(c.set_up_problem)}` : '';
  const consent = c.requires_consent === true ? '\trequires consent' : '';
  const dates = c.starts_at || c.ends_at
    ? `\t${c.starts_at ? String(c.starts_at) : '…'} to ${c.ends_at ? String(c.ends_at) : '…'}`
    : '';
  return `${String(c.id)}\t${String(c.status)}\t${String(c.name)}\tcap ${String(c.max_concurrent_calls)}\t` +
    `${String(c.window_start)}-${String(c.window_end)} ${String(c.time_zone)}${dates}${consent}${problem}\taccount ${
      String(c.provider_account)
    }`;
}

/**
 * The account fields given as flags (--kind <twilio|signalwire|vapi|retell>, --sid <AC...|UUID|none>,
 * --cps <n|default>, --cap <n|none>), not yet validated.
 */
export function accountFieldsFromFlags(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (typeof values.kind === 'string') f.provider = values.kind;
  if (typeof values.sid === 'string') f.account_sid = values.sid === 'none' ? null : values.sid;
  if (typeof values.cps === 'string') f.calls_per_second = values.cps === 'default' ? null : num('cps', values.cps);
  if (typeof values.cap === 'string') f.max_concurrent_calls = values.cap === 'none' ? null : num('cap', values.cap);
  return f;
}

function describeAccount(a: Record<string, unknown>): string {
  const rate = a.own_calls_per_second === null
    ? `${String(a.calls_per_second)} cps (global setting)`
    : `${String(a.calls_per_second)} cps`;
  const cap = a.max_concurrent_calls === null ? 'no own cap' : `cap ${String(a.max_concurrent_calls)}`;
  const breaker = a.breaker_state === 'open' && a.breaker_open_until
    ? `breaker open until ${String(a.breaker_open_until)}`
    : `breaker ${String(a.breaker_state)}`;
  const ids = Array.isArray(a.campaign_ids) && a.campaign_ids.length > 0 ? ` (${a.campaign_ids.join(', ')})` : '';
  const sid = a.account_sid ? `\t${a.provider === 'signalwire' ? 'project' : 'subaccount'} ${String(a.account_sid)}` : '';
  return `${String(a.id)}\t${String(a.provider)}${sid}\t${rate}\t${cap}\tactive ${String(a.active_calls)}` +
    `\t${breaker}\t${String(a.campaigns)} campaigns${ids}`;
}

function describeSchedulerPause(version: string | null, p: Record<string, unknown>): string {
  const state = p.paused_at
    ? `paused since ${String(p.paused_at)}${p.paused_reason ? ` (${String(p.paused_reason)})` : ''}`
    : 'running (not paused)';
  return version === null ? `scheduler ${state}` : `scheduler ${version}: ${state}`;
}

function describePreview(p: Record<string, unknown>): string {
  if (!p.allowed) return `refused: ${String(p.reason)}`;
  return [
    `campaign ${String(p.campaign_id)}: ${String(p.status)} -> ${String(p.status_after)}`,
    `  queued calls released (not an attempt): ${String(p.queued_calls_released)}`,
    `  active calls left to finish: ${String(p.active_calls_finishing)}`,
    `  pending contacts ended: ${String(p.pending_contacts_ended)} (of ${String(p.pending_contacts)} pending)`,
  ].join('\n');
}

export async function runCampaignCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command) throw new UsageError('no command');
    const { values, positionals } = parseArgs({ args: rest, options: FIELD_OPTIONS, allowPositionals: true, strict: true });
    const token = io.env.OPERATOR_TOKEN || io.env.ADMIN_TOKEN;
    if (!token) throw new UsageError('set OPERATOR_TOKEN (npm run operator -- create <name> --role operator) or ADMIN_TOKEN');
    const invoke: InvokeFunction = createFunctionsCaller({
      functionsUrl: io.env.SUPABASE_FUNCTIONS_URL || 'http://127.0.0.1:54321/functions/v1',
      secret: token,
      timeoutMs: 60_000,
      userAgent: 'campaign-cli',
    });
    const call = async (path: string, opts: InvokeOptions = {}): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await invoke(`scheduler-admin${path}`, { method: 'GET', ...opts });
      if (!res.answered) throw new Error(`scheduler-admin did not answer: ${res.error}`);
      const json = (res.json ?? {}) as Record<string, unknown>;
      if (res.status >= 400) {
        const issues = Array.isArray(json.issues) ? (json.issues as Array<{ field: string; message: string }>) : [];
        const detail = issues.length > 0
          ? issues.map((i) => `  ${i.field}: ${i.message}`).join('\n')
          : `  ${String(json.message ?? res.text)}`;
        throw new ApiError(res.status, `${res.status} ${String(json.error ?? '')}\n${detail}`);
      }
      return { status: res.status, json };
    };
    const id = (): string => {
      const v = positionals[0];
      if (!v || !/^[1-9][0-9]{0,17}$/.test(v)) throw new UsageError(`${command} needs a campaign id`);
      return v;
    };

    switch (command) {
      case 'scheduler': {
        const [sub = 'status'] = positionals;
        if (sub === 'status') {
          const { json } = await call('/status');
          io.out(describeSchedulerPause(String(json.version), json.pause as Record<string, unknown>));
          return 0;
        }
        if (sub !== 'pause' && sub !== 'resume') throw new UsageError('scheduler takes status, pause or resume');
        const reason = typeof values.reason === 'string' ? values.reason : undefined;
        const { json } = await call(`/scheduler/${sub}`, {
          method: 'POST',
          body: sub === 'pause' && reason !== undefined ? { reason } : {},
        });
        io.out(describeSchedulerPause(null, json));
        return 0;
      }
      case 'webhooks':
        try {
          return await runWebhooksCommand(positionals, values, call, io.out);
        } catch (err) {
          if (err instanceof WebhooksUsageError) throw new UsageError(err.message);
          throw err;
        }
      case 'dnc': {
        const [sub = 'list', arg] = positionals;
        if (sub === 'list') {
          let after: string | null = null;
          let shown = 0;
          do {
            const q = new URLSearchParams({ limit: '1000', ...(arg ? { q: arg } : {}), ...(after ? { after } : {}) });
            const { json } = await call(`/do-not-call?${q}`);
            for (const r of json.numbers as Array<Record<string, unknown>>) {
              shown++;
              io.out(`${String(r.phone)}	${String(r.added_at)}	${String(r.added_by ?? '')}	${String(r.reason ?? '')}`);
            }
            after = json.next_after as string | null;
          } while (after);
          if (shown === 0) io.out(arg ? `no listed number matches ${JSON.stringify(arg)}` : 'the do-not-call list is empty');
          return 0;
        }
        if (sub === 'add' || sub === 'remove') {
          if (!arg) throw new UsageError(`dnc ${sub} needs a phone number (+E.164)`);
          if (!values.reason?.trim()) throw new UsageError(`dnc ${sub} needs --reason <text>`);
          if (sub === 'add') {
            const { json } = await call('/do-not-call', { method: 'POST', body: { phone: arg, reason: values.reason } });
            io.out(
              json.added
                ? `added ${arg}; ${String(json.contacts_marked)} contact(s) marked do_not_call`
                : `${arg} was already listed (${String((json.row as Record<string, unknown>).reason ?? '')}): nothing changed`,
            );
            return 0;
          }
          const { json } = await call(`/do-not-call/${encodeURIComponent(arg)}`, {
            method: 'DELETE',
            body: { reason: values.reason },
          });
          io.out(
            `removed ${arg}; ${String(json.contacts_still_do_not_call)} contact(s) stay do_not_call (not dialled again)`,
          );
          return 0;
        }
        if (sub === 'import') {
          if (!arg) throw new UsageError('dnc import needs a CSV file');
          const res = await invoke('scheduler-admin/do-not-call/import', {
            method: 'POST',
            body: await readFile(arg, 'utf8'),
            headers: { 'content-type': 'text/csv; charset=utf-8' },
          });
          if (!res.answered) throw new Error(`scheduler-admin did not answer: ${res.error}`);
          const r = (res.json ?? {}) as Record<string, unknown>;
          if (res.status !== 200) {
            const line = typeof r.line === 'number' ? ` (line ${r.line})` : '';
            throw new ApiError(res.status, `${res.status} ${String(r.error ?? '')}: ${String(r.message ?? res.text)}${line}`);
          }
          for (const e of (r.errors ?? []) as Array<{ line: number; reason: string }>) io.err(`line ${e.line}: ${e.reason}`);
          io.out(
            `done: ${String(r.rows)} rows, ${String(r.added)} added, ${String(r.already_listed)} already listed, ` +
              `${String(r.errors_total)} refused`,
          );
          return Number(r.errors_total) > 0 ? 1 : 0;
        }
        if (sub === 'export') {
          const res = await invoke('scheduler-admin/do-not-call/export', { method: 'GET' });
          if (!res.answered) throw new Error(`scheduler-admin did not answer: ${res.error}`);
          if (res.status !== 200) throw new ApiError(res.status, `${res.status}: ${res.text}`);
          if (values.out) await writeFile(values.out, res.text);
          else process.stdout.write(res.text);
          return 0;
        }
        throw new UsageError(`unknown dnc command ${JSON.stringify(sub)}`);
      }
      case 'accounts': {
        const [sub = 'list', accountId] = positionals;
        const needId = (): string => {
          if (!accountId) throw new UsageError(`accounts ${sub} needs an account id`);
          return encodeURIComponent(accountId);
        };
        if (sub === 'list') {
          const accounts = (await call('/accounts')).json.accounts as Array<Record<string, unknown>>;
          if (accounts.length === 0) io.out('no provider accounts');
          for (const a of accounts) io.out(describeAccount(a));
          return 0;
        }
        if (sub === 'delete') {
          const { json } = await call(`/accounts/${needId()}`, { method: 'DELETE' });
          io.out(`deleted: account ${String((json.deleted as Record<string, unknown>).id)}`);
          return 0;
        }
        if (sub !== 'create' && sub !== 'set') throw new UsageError(`unknown accounts command ${JSON.stringify(sub)}`);
        const fields = accountFieldsFromFlags(values);
        const parsed = sub === 'create' ? AccountCreate.safeParse({ id: accountId, ...fields }) : AccountPatch.safeParse(fields);
        if (!parsed.success) {
          io.err(`refused:\n${describeIssues(parsed.error).map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
          return 1;
        }
        const { json } = sub === 'create'
          ? await call('/accounts', { method: 'POST', body: parsed.data })
          : await call(`/accounts/${needId()}`, { method: 'PATCH', body: parsed.data });
        io.out(`${sub === 'create' ? 'created' : 'updated'}: ${describeAccount(json)}`);
        return 0;
      }
      case 'person': {
        const who = (positionals[0] ?? '').replace(/[\s().-]/g, '');
        if (!who) throw new UsageError('person needs a phone number (+E164) or a contact id');
        const path = /^[1-9][0-9]{0,17}$/.test(who) ? `/contacts/${who}` : `/contacts?phone=${encodeURIComponent(who)}`;
        const { json } = await call(path);
        if (values.raw) {
          io.out(JSON.stringify(json, null, 2));
          return 0;
        }
        io.out(describePerson(json));
        return 0;
      }
      case 'lead': {
        const which = id();
        const phone = positionals[1];
        if (!phone) throw new UsageError('lead needs a phone number');
        const extra = typeof values.json === 'string' ? fieldsFromFlags({ json: values.json }) : {};
        const body: Record<string, unknown> = { ...extra, phone };
        if (typeof values.name === 'string') body.name = values.name;
        if (typeof values.priority === 'string') body.priority = num('priority', values.priority);
        if (typeof values.region === 'string') body.region = values.region;
        if (typeof values['time-zone'] === 'string') body.time_zone = values['time-zone'];
        const parsed = NewLead.safeParse(body);
        if (!parsed.success) {
          io.err(`refused:\n${describeIssues(parsed.error).map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
          return 1;
        }
        const { json } = await call(`/campaigns/${which}/leads`, { method: 'POST', body: parsed.data });
        io.out(`added: contact ${String(json.id)} ${String(json.phone)} priority ${String(json.priority)}, due now`);
        return 0;
      }
      case 'callback': {
        const which = id();
        const contact = positionals[1];
        if (!contact || !/^[1-9][0-9]{0,17}$/.test(contact)) throw new UsageError('callback needs a contact id');
        const parsed = NewCallback.safeParse({ at: values.at });
        if (!parsed.success) {
          throw new UsageError('callback needs --at <date-time with its offset, e.g. 2026-12-03T15:00:00+01:00>');
        }
        const { json } = await call(`/campaigns/${which}/contacts/${contact}/callback`, { method: 'PUT', body: parsed.data });
        io.out(`callback: contact ${String(json.id)} will be called at ${String(json.callback_at)} (${String(json.status)})`);
        return 0;
      }
      case 'list': {
        const { json } = await call('/campaigns');
        const campaigns = json.campaigns as Array<Record<string, unknown>>;
        if (campaigns.length === 0) io.out('no campaigns');
        for (const c of campaigns) io.out(describeCampaign(c));
        return 0;
      }
      case 'show': {
        io.out(JSON.stringify((await call(`/campaigns/${id()}`)).json, null, 2));
        return 0;
      }
      case 'create':
      case 'edit': {
        const fields = fieldsFromFlags(values);
        const settings = fields.provider_settings as Record<string, unknown> | undefined;
        const fromJson = typeof values.json === 'string' && /"provider_settings"/.test(values.json);
        if (settings !== undefined && command === 'edit' && !fromJson) {
          const current = (await call(`/campaigns/${id()}`)).json.provider_settings as Record<string, unknown> | undefined;
          fields.provider_settings = mergeProviderSettings(current ?? {}, settings);
        } else if (settings !== undefined) {
          fields.provider_settings = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== null));
        }
        const parsed = command === 'create' ? CampaignCreate.safeParse(fields) : CampaignPatch.safeParse(fields);
        if (!parsed.success) {
          io.err(`refused:\n${describeIssues(parsed.error).map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
          return 1;
        }
        const { json } = command === 'create'
          ? await call('/campaigns', { method: 'POST', body: parsed.data })
          : await call(`/campaigns/${id()}`, { method: 'PATCH', body: parsed.data });
        io.out(`${command === 'create' ? 'created' : 'updated'}: ${describeCampaign(json)}`);
        return 0;
      }
      case 'pause':
      case 'resume':
      case 'cancel': {
        const which = id();
        const preview = (await call(`/campaigns/${which}/preview-action?action=${command}`)).json;
        io.out(describePreview(preview));
        if (!preview.allowed) return 1;
        const go = values.yes === true || (io.confirm ? await io.confirm(`${command} campaign ${which}? (yes/no) `) : false);
        if (!go) {
          io.err(`not done: run again with --yes to ${command} it`);
          return 1;
        }
        const { json } = await call(`/campaigns/${which}/${command}`, { method: 'POST' });
        const c = json.campaign as Record<string, unknown>;
        io.out(
          `done: campaign ${String(c.id)} is ${String(c.status)}; ${String(json.queued_calls_released)} queued calls released, ` +
            `${String(json.active_calls_finishing)} active calls finishing, ${
              String(json.pending_contacts_ended)
            } pending contacts ended`,
        );
        return 0;
      }
      case 'import': {
        const which = id();
        const file = positionals[1];
        if (!file) throw new UsageError('import needs a CSV file');
        const rowsPerPart = values.rows === undefined ? 5000 : num('rows', values.rows);
        if (!Number.isInteger(rowsPerPart) || rowsPerPart < 1 || rowsPerPart > 50_000) throw new UsageError('--rows: 1 to 50000');
        const total = { rows: 0, imported: 0, duplicates: 0, errors: 0, parts: 0 };
        let failed = false;
        const parts = csvParts(file, rowsPerPart, values.delimiter ?? ',');
        for (;;) {
          let next: IteratorResult<{ text: string; lineOffset: number }>;
          try {
            next = await parts.next();
          } catch (err) {
            io.err(
              `stopped reading ${file}: ${
                (err as Error).message
              }; ${total.imported} rows imported before it (${total.parts} parts sent)`,
            );
            failed = true;
            break;
          }
          if (next.done) break;
          const part = next.value;
          const q = new URLSearchParams({ line_offset: String(part.lineOffset) });
          if (values.region) q.set('region', values.region);
          if (values.delimiter) q.set('delimiter', values.delimiter);
          const res = await invoke(`scheduler-admin/campaigns/${which}/contacts?${q}`, {
            method: 'POST',
            body: part.text,
            headers: { 'content-type': 'text/csv; charset=utf-8' },
          });
          if (!res.answered) throw new Error(`scheduler-admin did not answer: ${res.error}`);
          const r = (res.json ?? {}) as Record<string, unknown>;
          if (res.status !== 200 && res.status !== 422) {
            throw new ApiError(res.status, `${res.status} ${String(r.error ?? '')}: ${String(r.message ?? res.text)}`);
          }
          total.parts++;
          total.rows += Number(r.rows ?? 0);
          total.imported += Number(r.imported ?? 0);
          total.duplicates += Number(r.duplicates ?? 0);
          total.errors += Number(r.errors_total ?? 0);
          for (const e of (r.errors ?? []) as Array<{ line: number; column: string; reason: string }>) {
            io.err(`line ${e.line}${e.column ? `, column ${e.column}` : ''}: ${e.reason}`);
          }
          const dups = (r.duplicate_lines ?? []) as number[];
          if (dups.length > 0) io.err(`duplicates at lines ${dups.join(', ')}`);
          io.out(
            `part ${total.parts}: through line ${String(r.committed_through_line)}: ${total.imported} imported, ` +
              `${total.duplicates} duplicates, ${total.errors} errors so far`,
          );
          if (res.status === 422) {
            io.err(
              `stopped: ${String(r.message)}; the rows before line ${
                String((r.stopped as { line: number }).line)
              } were handled (${total.imported} imported in all)`,
            );
            failed = true;
            break;
          }
        }
        io.out(
          `${
            failed ? 'stopped' : 'done'
          }: ${total.rows} rows, ${total.imported} imported, ${total.duplicates} duplicates, ${total.errors} errors`,
        );
        return failed ? 1 : 0;
      }
      case 'export': {
        const res = await invoke(`scheduler-admin/campaigns/${id()}/export`, { method: 'GET' });
        if (!res.answered) throw new Error(`scheduler-admin did not answer: ${res.error}`);
        if (res.status !== 200) throw new ApiError(res.status, `${res.status}: ${res.text}`);
        if (values.out) await writeFile(values.out, res.text);
        else process.stdout.write(res.text);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    io.err((err as Error).message);
    return 1;
  }
}

/**
 * The file in parts of `rows` records, each part the header line and its records exactly as they
 * are in the file (raw text: quoting and line breaks kept), with the line offset that makes the
 * function's line numbers the file's. Read as a stream: one part in memory at a time.
 */
export async function* csvParts(
  file: string,
  rows: number,
  delimiter: string,
): AsyncGenerator<{ text: string; lineOffset: number }> {
  const parser = createReadStream(file).pipe(parse({
    bom: true,
    raw: true,
    info: true,
    delimiter,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: false,
    max_record_size: 1024 * 1024,
  }));
  let header: string | null = null;
  let headerLines = 1;
  let part: string[] = [];
  let firstLine = 0;
  let lastLine = 0;
  for await (const item of parser as AsyncIterable<{ raw: string; info: { lines: number } }>) {
    if (header === null) {
      header = item.raw.endsWith('\n') ? item.raw : `${item.raw}\n`;
      headerLines = item.info.lines;
      lastLine = item.info.lines;
      continue;
    }
    if (part.length === 0) firstLine = lastLine + 1;
    part.push(item.raw.endsWith('\n') ? item.raw : `${item.raw}\n`);
    lastLine = item.info.lines;
    if (part.length >= rows) {
      yield { text: header + part.join(''), lineOffset: firstLine - headerLines - 1 };
      part = [];
    }
  }
  if (header === null) yield { text: '', lineOffset: 0 };
  else if (part.length > 0) yield { text: header + part.join(''), lineOffset: firstLine - headerLines - 1 };
}

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const confirm = process.stdin.isTTY
    ? async (q: string) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return /^y(es)?$/i.test((await rl.question(q)).trim());
      } finally {
        rl.close();
      }
    }
    : undefined;
  process.exitCode = await runCampaignCli(process.argv.slice(2), {
    env: process.env,
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    ...(confirm ? { confirm } : {}),
  });
}

/** One person's story (GET /contacts) as lines for a terminal. */
export function describePerson(story: Record<string, unknown>): string {
  const lines: string[] = [];
  const dnc = story.do_not_call as Record<string, unknown> | null;
  lines.push(`${story.phone}${dnc ? ` (on the do-not-call list since ${dnc.added_at}: ${dnc.reason})` : ''}`);
  const contacts = story.contacts as Array<Record<string, unknown>>;
  if (contacts.length === 0) lines.push('  no contact has this number');
  for (const c of contacts) {
    lines.push(
      `  contact ${c.id} in campaign ${c.campaign_id} "${c.campaign_name}" (${c.campaign_status}): ${c.status}, ` +
        `${c.attempts} of ${c.max_attempts} attempts`,
    );
    const why = c.why_not_now as Record<string, unknown> | null;
    if (why) {
      lines.push(`    not called now: ${why.detail}${why.until && why.reason !== 'quiet hours' ? ` (until ${why.until})` : ''}`);
    }
    for (const call of c.calls as Array<Record<string, unknown>>) {
      const took = call.duration_seconds === null ? '' : `, ${call.duration_seconds} s`;
      const by = call.answered_by ? `, answered by ${call.answered_by}` : '';
      const err = call.error ? ` — ${call.error}` : '';
      lines.push(`    attempt ${call.attempt}: ${call.status}${took}${by}, dialled ${call.dialed_at ?? 'never'}${err}`);
    }
  }
  return lines.join('\n');
}
