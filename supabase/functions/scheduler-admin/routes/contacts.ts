// A campaign's contacts: CSV import (streamed), consent evidence of one contact, and the CSV
// exports of its contacts and of its calls. POST /campaigns/<id>/contacts,
// PATCH /campaigns/<id>/contacts/<contact id>, GET /campaigns/<id>/export and /calls-export.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   POST   /campaigns/<id>/contacts?region=US&delimiter=%3B&line_offset=N   (text/csv body, streamed)
//                          -> ImportReport (_shared/contacts-csv.ts): {rows, imported, duplicates,
//                             duplicate_lines, errors_total, errors: [{line, column, reason}], complete,
//                             stopped, committed_through_line, batches}; 422 when the file stopped
//                             part-way (what was imported before is said); audited contacts.import
//   PATCH  /campaigns/<id>/contacts/<contact id>   ContactConsentPatch (_shared/contact-schema.ts):
//                          {consent_at?, consent_method?, consent_source?, consent_expires_at?} (null clears)
//                          -> {id, campaign_id, phone, status, consent_*}; 404 when the campaign has no such
//                          contact; audited contact.consent (the evidence before/after)
//   GET    /campaigns/<id>/export   text/csv: the contacts with their outcomes and consent evidence
//                          (formula-safe cells; the consent columns import back as they are)
//   GET    /campaigns/<id>/calls-export   text/csv: one row per attempt: its times, outcome, provider call
//                          id, and what allowed it (zones checked and their source, matching rules, consent)

//
//   POST /campaigns/<id>/leads   [o]  NewLead (_shared/callbacks.ts): one contact as JSON with its
//                          priority, checked like a CSV row (phone, zone, consent) -> 201 the contact,
//                          due at once (speed to lead); 400 naming each field; 404 no such campaign;
//                          409 when the number is already its contact or the campaign is over;
//                          audited contact.add
//   PUT  /campaigns/<id>/contacts/<contact id>/callback   [o]  {at} -> the contact with callback_at:
//                          called at that instant (before the campaign's other due contacts, within
//                          windows, rules, consent, do-not-call and caps); 404 no such contact; 409
//                          for a contact never to be called again or a campaign that is over;
//                          audited contact.callback
import { HttpError, jsonResponse } from '../../_shared/http.ts';
import {
  exportCallsPage,
  exportContactsPage,
  importContactsBatch,
  readCampaign,
  setContactConsent,
} from '../../_shared/queries.ts';
import { importContactsCsv, isRegion } from '../../_shared/contacts-csv.ts';
import { ContactConsentPatch } from '../../_shared/contact-schema.ts';
import { csvLine } from '../../_shared/csv-export.ts';
import { actorOf, type AdminContext, audit, discardBody, notFound, NUMERIC_ID, query, readValid } from './common.ts';
import { campaignId } from './campaigns.ts';
import { addLead, leadFields, NewCallback, NewLead, setContactCallback } from '../../_shared/callbacks.ts';
import { InvalidFields } from './common.ts';

const noCampaign = () => notFound('no campaign with that id');

/**
 * POST /campaigns/<id>/contacts?region=US&delimiter=%3B&line_offset=N (text/csv, streamed): the
 * ImportReport; 422 when the file stopped part-way (what was imported before is said); audited
 * contacts.import.
 */
export async function importCsv(c: AdminContext): Promise<Response> {
  const { db, now } = c.var.deps;
  const req = c.req.raw;
  const id = campaignId(c);
  if (id === null) return noCampaign();
  const campaign = await readCampaign(db, id);
  if (!campaign) {
    await discardBody(req);
    return noCampaign();
  }
  if (campaign.status === 'CANCELLED' || campaign.status === 'COMPLETED') {
    await discardBody(req);
    throw new HttpError(409, `campaign ${id} is ${campaign.status.toLowerCase()}: contacts cannot be added`, 'conflict');
  }
  if (!/^text\/(csv|plain)\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new HttpError(415, 'body must be text/csv (UTF-8)', 'unsupported_media_type');
  }
  const q = query(c);
  const region = q.get('region')?.toUpperCase() || undefined;
  if (region !== undefined && !isRegion(region)) throw new HttpError(400, 'region: an ISO 3166 code such as US or FR');
  const delimiter = q.get('delimiter') ?? ',';
  if (![',', ';', '\t', '|'].includes(delimiter)) throw new HttpError(400, 'delimiter: one of , ; | or tab (%09)');
  const lineOffset = Number(q.get('line_offset') ?? '0');
  if (!Number.isInteger(lineOffset) || lineOffset < 0) throw new HttpError(400, 'line_offset: a whole number');
  const report = await importContactsCsv(req.body ?? new ReadableStream({ start: (ctl) => ctl.close() }), {
    region,
    delimiter,
    lineOffset,
    batchSize: 1000,
    maxBytes: 64 * 1024 * 1024,
    writeBatch: (rows) => importContactsBatch(db, id, rows, now()),
  });
  await audit(c, 'contacts.import', `campaign ${id}`, null, {
    ...report,
    errors: report.errors.slice(0, 20),
    duplicate_lines: report.duplicate_lines.slice(0, 20),
  });
  return jsonResponse(
    report.complete
      ? report
      : { error: 'csv_stopped', message: `${report.stopped!.reason}; ${report.imported} rows imported before it`, ...report },
    report.complete ? 200 : 422,
  );
}

/** PATCH /campaigns/<id>/contacts/<contact id>: ContactConsentPatch; audited contact.consent. */
export async function setConsent(c: AdminContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const contactId = c.req.param('contactId') ?? '';
  const noContact = () => notFound('the campaign has no contact with that id');
  if (!NUMERIC_ID.test(id) || !NUMERIC_ID.test(contactId)) return noContact();
  const body = await readValid(c, ContactConsentPatch, 65_536);
  const row = await setContactConsent(c.var.deps.db, id, contactId, body, actorOf(c));
  return row ? jsonResponse(row) : noContact();
}

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
async function csvExport<R extends Record<string, unknown>>(
  c: AdminContext,
  columns: readonly string[],
  page: (id: string, after: string) => Promise<R[]>,
  key: (row: R) => string,
  filename: (id: string) => string,
): Promise<Response> {
  const id = campaignId(c);
  if (id === null || !(await readCampaign(c.var.deps.db, id))) return noCampaign();
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
      const rows = await page(id, after);
      if (rows.length === 0) {
        controller.close();
        return;
      }
      after = key(rows[rows.length - 1]!);
      controller.enqueue(encoder.encode(rows.map((r) => csvLine(columns.map((col) => r[col]))).join('')));
    },
  });
  return new Response(body, {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${filename(id)}"`,
      'cache-control': 'no-store',
    },
  });
}

/** GET /campaigns/<id>/export: the contacts with their outcomes and consent evidence (imports back as it is). */
export function exportContacts(c: AdminContext): Promise<Response> {
  const db = c.var.deps.db;
  return csvExport(
    c,
    EXPORT_COLUMNS,
    (id, after) => exportContactsPage(db, id, after, 2000),
    (r) => r.id,
    (id) => `campaign-${id}-contacts.csv`,
  );
}

/** GET /campaigns/<id>/calls-export: one row per attempt, with what allowed it. */
export function exportCalls(c: AdminContext): Promise<Response> {
  const db = c.var.deps.db;
  return csvExport(
    c,
    CALL_EXPORT_COLUMNS,
    (id, after) => exportCallsPage(db, id, after, 2000),
    (r) => r.call_id,
    (id) => `campaign-${id}-calls.csv`,
  );
}

/** POST /campaigns/<id>/leads: one contact now, with its priority (speed to lead). */
export async function addOneLead(c: AdminContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const noCampaign = () => notFound('no campaign with that id');
  if (!NUMERIC_ID.test(id)) return noCampaign();
  const lead = await readValid(c, NewLead, 65_536);
  const checked = leadFields(lead);
  if ('issues' in checked) throw new InvalidFields(checked.issues);
  const row = await addLead(c.var.deps.db, id, checked.fields, actorOf(c));
  return row ? jsonResponse(row, 201) : noCampaign();
}

/** PUT /campaigns/<id>/contacts/<contact id>/callback: the contact's next call at {at}. */
export async function setCallback(c: AdminContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const contactId = c.req.param('contactId') ?? '';
  const noContact = () => notFound('the campaign has no contact with that id');
  if (!NUMERIC_ID.test(id) || !NUMERIC_ID.test(contactId)) return noContact();
  const { at } = await readValid(c, NewCallback);
  const row = await setContactCallback(c.var.deps.db, id, contactId, at, actorOf(c));
  return row ? jsonResponse(row) : noContact();
}
