// The do-not-call list: search, add, remove (a reason is required), CSV import and export.
// GET|POST /do-not-call, DELETE /do-not-call/<phone>, POST /do-not-call/import, GET /do-not-call/export.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /do-not-call?q=<text>&after=<phone>&limit=N
//                          {numbers: [{phone, reason, added_at, added_by}...], next_after}: the do-not-call
//                          list in phone order, the numbers containing q (digits, with or without +) or
//                          whose reason contains it; next_after: the after= of the next page (null: last)
//   POST   /do-not-call    {phone (E.164), reason} -> 201 {added: true, row, contacts_marked} (its pending
//                          contacts become do_not_call at once); 200 {added: false, row} when already
//                          listed (nothing changes); audited do_not_call.add
//   DELETE /do-not-call/<phone>  {reason} (required) -> {removed: row, reason, contacts_still_do_not_call};
//                          404 when not listed; audited do_not_call.remove. Contacts marked do_not_call stay
//                          so (nothing is dialled again behind the operator's back).
//   POST   /do-not-call/import   (text/csv body: phone,reason) -> {rows, added, already_listed,
//                          errors_total, errors: [{line, reason}]}: invalid rows named by line, valid ones
//                          kept; 400 naming the line when the file is not readable CSV (nothing
//                          written); each number added audited do_not_call.import
//   GET    /do-not-call/export   text/csv phone,reason,added_at,added_by (formula-safe cells)

import { z } from 'zod';
import { HttpError, jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import { addDoNotCall, importDoNotCallBatch, removeDoNotCall, searchDoNotCall } from '../../_shared/queries.ts';
import { csvLine } from '../../_shared/csv-export.ts';
import { DoNotCallCsvError, parseDoNotCallCsv } from '../../_shared/do-not-call-csv.ts';
import { E164_PATTERN } from '../../_shared/phone.ts';
import { actorOf, type AdminContext, discardBody, pageLimit, query, readValid, Reason } from './common.ts';

const NewDoNotCall = z
  .object({
    phone: z.string().trim().regex(E164_PATTERN, 'an E.164 number: + then 7 to 15 digits, e.g. +15551230000'),
    reason: Reason,
  })
  .strict();
const DoNotCallRemoval = z.object({ reason: Reason }).strict();
const EXPORT_COLUMNS = ['phone', 'reason', 'added_at', 'added_by'] as const;

/** GET /do-not-call?q=&after=&limit=: in phone order; next_after is the after= of the next page (null: the last). */
export async function search(c: AdminContext): Promise<Response> {
  const q = query(c);
  const text = (q.get('q') ?? '').trim();
  if (text.length > 100) throw new HttpError(400, 'q: at most 100 characters');
  const after = q.get('after') || null;
  if (after !== null && after.length > 20) throw new HttpError(400, 'after: a phone number from next_after');
  const limit = pageLimit(q);
  const page = await searchDoNotCall(c.var.deps.db, { query: text, after, limit: limit + 1 });
  const numbers = page.slice(0, limit);
  return jsonResponse({ numbers, next_after: page.length > limit ? numbers[numbers.length - 1]!.phone : null });
}

/** POST /do-not-call: 201 added (its pending contacts become do_not_call at once), 200 when already listed. */
export async function add(c: AdminContext): Promise<Response> {
  const body = await readValid(c, NewDoNotCall);
  const result = await addDoNotCall(c.var.deps.db, body.phone, body.reason, actorOf(c));
  return jsonResponse(result, result.added ? 201 : 200);
}

/**
 * DELETE /do-not-call/<phone> {reason}: 404 when not listed. Contacts marked do_not_call stay so
 * (nothing is dialled again behind the operator's back).
 */
export async function remove(c: AdminContext): Promise<Response> {
  // The number as sent: Hono's decoded param forgives a bad encoding, which must be a 400 here.
  const segment = new URL(c.req.url).pathname.replace(/\/+$/, '').split('/').pop() ?? '';
  if (segment.length > 64) return jsonResponse({ error: 'not_found' }, 404);
  let phone: string;
  try {
    phone = decodeURIComponent(segment).trim();
  } catch {
    throw new HttpError(400, 'the phone number is not valid URL encoding', 'bad_request');
  }
  const body = await readValid(c, DoNotCallRemoval);
  const result = E164_PATTERN.test(phone) ? await removeDoNotCall(c.var.deps.db, phone, body.reason, actorOf(c)) : null;
  return result ? jsonResponse(result) : jsonResponse({ error: 'not_found', message: 'that number is not on the list' }, 404);
}

/** POST /do-not-call/import (text/csv phone,reason): invalid rows named by line, valid ones kept. */
export async function importCsv(c: AdminContext): Promise<Response> {
  const req = c.req.raw;
  if (!/^text\/(csv|plain)\b/i.test(req.headers.get('content-type') ?? '')) {
    await discardBody(req);
    throw new HttpError(415, 'body must be text/csv (UTF-8)', 'unsupported_media_type');
  }
  const text = await readBodyLimited(req, 16 * 1024 * 1024);
  let csv;
  try {
    csv = await parseDoNotCallCsv(text);
  } catch (err) {
    // Not readable CSV: nothing is written, and the line is named.
    if (err instanceof DoNotCallCsvError) {
      return jsonResponse({ error: 'bad_request', message: err.message, line: err.line }, 400);
    }
    throw err;
  }
  let added = 0;
  let alreadyListed = 0;
  for (let i = 0; i < csv.rows.length; i += 1000) {
    for (const r of await importDoNotCallBatch(c.var.deps.db, csv.rows.slice(i, i + 1000), actorOf(c))) {
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

/** GET /do-not-call/export: text/csv phone,reason,added_at,added_by, read in pages of 5,000 while it streams. */
export async function exportCsv(c: AdminContext): Promise<Response> {
  const db = c.var.deps.db;
  const encoder = new TextEncoder();
  let after: string | null = null;
  let headerSent = false;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(csvLine(EXPORT_COLUMNS)));
        return;
      }
      const page = done ? [] : await searchDoNotCall(db, { query: '', after, limit: 5000 });
      if (page.length === 0) {
        controller.close();
        return;
      }
      if (page.length < 5000) done = true;
      after = page[page.length - 1]!.phone;
      controller.enqueue(encoder.encode(page.map((r) => csvLine(EXPORT_COLUMNS.map((col) => r[col]))).join('')));
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
