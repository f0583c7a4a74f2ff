// A contact's consent evidence as an operator writes it (CSV columns consent_at, consent_method,
// consent_source, consent_expires_at; the admin API's PATCH /campaigns/<id>/contacts/<contact id>,
// ContactConsentPatch below): when consent was given, how, where from or in which words,
// and until when it holds. The contacts table's CHECK constraints say the same and stay the last
// word (public.import_contacts answers bad_consent for a row they would refuse).
//
//   consent_at          ISO 8601 date-time with an offset (2026-11-30T09:15:00Z, ...+01:00)
//   consent_method      one of CONSENT_METHODS (any case; "web form" and "web-form" read as web_form)
//   consent_source      free text, 1 to 1000 characters (a form URL, the script read, a reference)
//   consent_expires_at  ISO 8601 date-time with an offset, after consent_at
//
// All optional; a time and a method go together, a source and an expiry only with them.

import { z } from 'zod';

export const CONSENT_METHODS = ['web_form', 'verbal', 'written', 'sms', 'email', 'other'] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];
export const CONSENT_SOURCE_MAX = 1000;
export const CONSENT_COLUMNS = ['consent_at', 'consent_method', 'consent_source', 'consent_expires_at'] as const;
export type ConsentColumn = (typeof CONSENT_COLUMNS)[number];

const DATE_TIME_HINT = 'a date-time with its offset, such as 2026-11-30T09:15:00Z or 2026-11-30T10:15:00+01:00';
const dateTime = (column: string) =>
  z.string().datetime({ offset: true, message: `${column} must be ${DATE_TIME_HINT}` }).transform((s) =>
    new Date(s).toISOString()
  );

/** The consent fields, each already trimmed; empty cells are absent (null). */
export const ConsentFields = z.object({
  consent_at: dateTime('consent_at').nullable(),
  consent_method: z.enum(CONSENT_METHODS, { message: `consent_method must be one of ${CONSENT_METHODS.join(', ')}` })
    .nullable(),
  consent_source: z.string().min(1).max(CONSENT_SOURCE_MAX, `consent_source: at most ${CONSENT_SOURCE_MAX} characters`)
    .nullable(),
  consent_expires_at: dateTime('consent_expires_at').nullable(),
}).superRefine((c, ctx) => {
  const issue = (path: ConsentColumn, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (c.consent_at !== null && c.consent_method === null) {
    issue('consent_method', `consent_at needs consent_method (one of ${CONSENT_METHODS.join(', ')})`);
  }
  if (c.consent_at === null && c.consent_method !== null) {
    issue('consent_at', 'consent_method needs consent_at (when it was given)');
  }
  if (c.consent_at === null && c.consent_source !== null) {
    issue('consent_at', 'consent_source needs consent_at (when it was given)');
  }
  if (c.consent_at === null && c.consent_expires_at !== null) {
    issue('consent_at', 'consent_expires_at needs consent_at (when it was given)');
  }
  if (c.consent_at !== null && c.consent_expires_at !== null && Date.parse(c.consent_expires_at) <= Date.parse(c.consent_at)) {
    issue('consent_expires_at', 'consent_expires_at must be after consent_at');
  }
});
export type ConsentFields = z.infer<typeof ConsentFields>;

/** A method as people write it: any case, spaces or hyphens for the underscore ("Web form" is web_form). */
export function normaliseConsentMethod(text: string): string {
  return text.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/**
 * The consent evidence of one CSV row from its raw cells (a column the file lacks: undefined), or
 * each problem with its column. Empty cells mean none.
 */
export function parseConsentCells(
  cells: Partial<Record<ConsentColumn, string>>,
): { consent: ConsentFields } | { errors: Array<{ column: ConsentColumn; reason: string }> } {
  const cell = (c: ConsentColumn) => {
    const t = cells[c]?.trim() ?? '';
    return t === '' ? null : t;
  };
  const method = cell('consent_method');
  const parsed = ConsentFields.safeParse({
    consent_at: cell('consent_at'),
    consent_method: method === null ? null : normaliseConsentMethod(method),
    consent_source: cell('consent_source'),
    consent_expires_at: cell('consent_expires_at'),
  });
  if (parsed.success) return { consent: parsed.data };
  return {
    errors: parsed.error.issues.map((i) => {
      const column = (i.path[0] as ConsentColumn | undefined) ?? 'consent_at';
      const raw = cells[column]?.trim();
      const shown = raw && i.code !== 'custom' ? `: ${JSON.stringify(raw.slice(0, 40))}` : '';
      return { column, reason: `${i.message}${shown}` };
    }),
  };
}

/**
 * An edit of a contact's consent evidence through the admin API (PATCH
 * /campaigns/<id>/contacts/<contact id>): any of the four fields, at least one; null clears one.
 * The merged row is checked by the table (CONTACT_CONSTRAINT_FIELDS names the field of a refusal);
 * the expiry is checked against the consent here when both are in the request.
 */
export const ContactConsentPatch = z.object({
  consent_at: dateTime('consent_at').nullable(),
  consent_method: z.preprocess(
    (v) => (typeof v === 'string' ? normaliseConsentMethod(v) : v),
    z.enum(CONSENT_METHODS, { message: `consent_method must be one of ${CONSENT_METHODS.join(', ')}` }).nullable(),
  ),
  consent_source: z.string().trim().min(1, 'consent_source must not be blank (null clears it)')
    .max(CONSENT_SOURCE_MAX, `consent_source: at most ${CONSENT_SOURCE_MAX} characters`).nullable(),
  consent_expires_at: dateTime('consent_expires_at').nullable(),
}).partial().strict()
  .refine((c) => Object.keys(c).length > 0, 'nothing to change: give at least one consent field')
  .refine(
    (c) => !c.consent_at || !c.consent_expires_at || Date.parse(c.consent_expires_at) > Date.parse(c.consent_at),
    { message: 'consent_expires_at must be after consent_at', path: ['consent_expires_at'] },
  );
export type ContactConsentPatch = z.infer<typeof ContactConsentPatch>;

/** The field each consent CHECK constraint of public.contacts guards. */
export const CONTACT_CONSTRAINT_FIELDS: Record<string, string> = {
  contacts_consent_method_is_known: 'consent_method',
  contacts_consent_has_time_and_method: 'consent_method',
  contacts_consent_source_is_bounded: 'consent_source',
  contacts_consent_expires_after_given: 'consent_expires_at',
  contacts_time_zone_is_valid: 'time_zone',
  contacts_phone_is_e164: 'phone',
};
