// Scheduled callbacks and single leads: their request shapes (zod) and their database calls.
//
//   NewCallback  {at}: the instant (ISO 8601 with its offset) the person asked to be called again,
//                at most a year ahead (the database says the same: _set_contact_callback)
//   NewLead      one contact as JSON, checked like a CSV row of the import (contacts-csv.ts: the
//                number normalised to E.164, with `region` for a national one; the consent evidence
//                by contact-schema.ts; the time zone by the table), plus its priority (higher first
//                among the campaign's due contacts; default 0)

import { z } from 'zod';
import type { SqlClient } from './db.ts';
import type { Actor } from './queries.ts';
import { ConsentFields, normaliseConsentMethod } from './contact-schema.ts';
import { isRegion, normalisePhone } from './contacts-csv.ts';

const MAX_INT = 2_147_483_647;

export const NewCallback = z.object({
  at: z.string().datetime({ offset: true, message: 'at must be a date-time with its offset, such as 2026-12-03T15:00:00+01:00' }),
}).strict();
export type NewCallback = z.infer<typeof NewCallback>;

export const NewLead = z.object({
  phone: z.string().min(1, 'phone is required').max(64),
  /** ISO 3166 region of a national number (e.g. US, FR); without it the number needs its +country code. */
  region: z.string().refine(isRegion, 'region must be a supported ISO 3166 code such as US').optional(),
  name: z.string().trim().min(1, 'name must not be blank (leave it out)').max(200, 'name: at most 200 characters').nullable()
    .optional(),
  time_zone: z.string().regex(
    /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/,
    'time_zone must be an IANA name such as Europe/Paris',
  )
    .max(64).nullable().optional(),
  metadata: z.record(z.string().max(64), z.string().max(1000)).optional(),
  priority: z.number().int().min(-MAX_INT).max(MAX_INT).optional(),
  consent_at: z.string().nullable().optional(),
  consent_method: z.string().nullable().optional(),
  consent_source: z.string().nullable().optional(),
  consent_expires_at: z.string().nullable().optional(),
}).strict();
export type NewLead = z.infer<typeof NewLead>;

/** The lead's row for public.admin_add_contact, or each problem with its field (as the import reads a CSV row). */
export function leadFields(
  lead: NewLead,
): { fields: Record<string, unknown> } | { issues: Array<{ field: string; message: string }> } {
  const issues: Array<{ field: string; message: string }> = [];
  const phone = normalisePhone(lead.phone, lead.region);
  if ('reason' in phone) issues.push({ field: 'phone', message: phone.reason });
  const blank = (v: string | null | undefined) => (v === undefined || v === null || v.trim() === '' ? null : v.trim());
  const method = blank(lead.consent_method);
  const consent = ConsentFields.safeParse({
    consent_at: blank(lead.consent_at),
    consent_method: method === null ? null : normaliseConsentMethod(method),
    consent_source: blank(lead.consent_source),
    consent_expires_at: blank(lead.consent_expires_at),
  });
  if (!consent.success) {
    for (const i of consent.error.issues) issues.push({ field: String(i.path[0] ?? 'consent_at'), message: i.message });
  }
  if (issues.length > 0 || 'reason' in phone || !consent.success) return { issues };
  return {
    fields: {
      phone: phone.phone,
      name: lead.name ?? null,
      time_zone: lead.time_zone ?? null,
      metadata: lead.metadata ?? {},
      priority: lead.priority ?? 0,
      ...consent.data,
    },
  };
}

/** A contact as the callback and lead calls answer it. */
export type ContactJson = Record<string, unknown> & { id: string; campaign_id: string; status: string };

/** Schedules contact `contactId` of campaign `campaignId`'s callback at `at`; null: no such contact. Audited. */
export async function setContactCallback(
  db: SqlClient,
  campaignId: string,
  contactId: string,
  at: string,
  a: Actor,
): Promise<ContactJson | null> {
  const { rows } = await db.query<{ c: ContactJson | null }>(
    'select public.admin_set_contact_callback($1, $2, $3, $4, $5, $6, $7) as c',
    [campaignId, contactId, at, a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.c ?? null;
}

/** The callback asked for during call `callId` (its own contact); null: no such call. Audited. */
export async function callbackDuringCall(db: SqlClient, callId: string, at: string, now: Date): Promise<ContactJson | null> {
  const { rows } = await db.query<{ c: ContactJson | null }>('select public.callback_during_call($1, $2, $3) as c', [
    callId,
    at,
    now,
  ]);
  return rows[0]?.c ?? null;
}

/** Adds one contact (a lead) to campaign `campaignId`, due now; null: no such campaign. Audited. */
export async function addLead(
  db: SqlClient,
  campaignId: string,
  fields: Record<string, unknown>,
  a: Actor,
): Promise<ContactJson | null> {
  const { rows } = await db.query<{ c: ContactJson | null }>(
    'select public.admin_add_contact($1, $2, $3, $4, $5, $6) as c',
    [campaignId, JSON.stringify(fields), a.actor, a.actorTokenId, a.now, a.actorRole],
  );
  return rows[0]?.c ?? null;
}
