// Consent evidence as the CSV import reads it (_shared/contacts-csv.ts with _shared/contact-schema.ts)
// and as the campaign schema and the CLI take requires_consent: no database, no gateway. Every
// date-time here is written out; nothing depends on when the test runs.

import { describe, expect, it } from 'vitest';
import { CampaignCreate, CampaignPatch } from '../../supabase/functions/_shared/campaign-schema.ts';
import { parseConsentCells } from '../../supabase/functions/_shared/contact-schema.ts';
import { importContactsCsv, type ImportRow } from '../../supabase/functions/_shared/contacts-csv.ts';
import { fieldsFromFlags } from '../../scripts/campaign.ts';

function stream(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

/** Imports `csv` with every row accepted by the "database"; the rows it was handed and the report. */
async function importCsv(csv: string) {
  const written: ImportRow[] = [];
  const report = await importContactsCsv(stream(csv), {
    region: 'US',
    writeBatch: (rows) => {
      written.push(...rows);
      return Promise.resolve(rows.map((r) => ({ line: r.line, outcome: 'imported' })));
    },
  });
  return { written, report };
}

describe('consent columns in the CSV import', () => {
  it('reads consent_at, consent_method, consent_source and consent_expires_at, and keeps them out of metadata', async () => {
    const csv = [
      'phone,name,Consent_At,consent_method,consent_source,consent_expires_at,plan',
      '+14155550101,Ada,2026-11-30T09:15:00+01:00,Web Form,https://example.test/optin,2027-11-30T09:15:00+01:00,gold',
      '+14155550102,Bob,2026-11-02T16:00:00Z,verbal,"Script v3: ""May we call you about your order?""",,silver',
      '+14155550103,Cy,,,,,',
    ].join('\n');
    const { written, report } = await importCsv(csv);
    expect(report).toMatchObject({ rows: 3, imported: 3, errors_total: 0 });
    expect(written.map((r) => [r.consent_at, r.consent_method, r.consent_source, r.consent_expires_at, r.metadata])).toEqual([
      ['2026-11-30T08:15:00.000Z', 'web_form', 'https://example.test/optin', '2027-11-30T08:15:00.000Z', { plan: 'gold' }],
      ['2026-11-02T16:00:00.000Z', 'verbal', 'Script v3: "May we call you about your order?"', null, { plan: 'silver' }],
      [null, null, null, null, { plan: '' }],
    ]);
  });

  it('refuses a row whose evidence does not hold together, naming the line, the column and why', async () => {
    const csv = [
      'phone,consent_at,consent_method,consent_source,consent_expires_at',
      '+14155550101,yesterday,verbal,,',
      '+14155550102,2026-11-30T09:15:00Z,carrier pigeon,,',
      '+14155550103,2026-11-30T09:15:00Z,,,',
      '+14155550104,,sms,,',
      '+14155550105,,,a call last week,',
      '+14155550106,2026-11-30T09:15:00Z,sms,,2026-11-30T09:15:00Z',
      '+14155550107,2026-11-30,sms,,',
      `+14155550108,2026-11-30T09:15:00Z,written,${'x'.repeat(1001)},`,
      '+14155550109,2026-11-30T09:15:00Z,written,signed form #12,2026-12-30T09:15:00Z',
    ].join('\n');
    const { written, report } = await importCsv(csv);
    expect(report).toMatchObject({ rows: 9, imported: 1, errors_total: 8, complete: true });
    expect(written.map((r) => r.phone)).toEqual(['+14155550109']);
    expect(report.errors).toEqual([
      {
        line: 2,
        column: 'consent_at',
        reason: expect.stringMatching(/^consent_at must be a date-time with its offset.*"yesterday"$/),
      },
      {
        line: 3,
        column: 'consent_method',
        reason: expect.stringContaining('one of web_form, verbal, written, sms, email, other'),
      },
      { line: 4, column: 'consent_method', reason: expect.stringContaining('consent_at needs consent_method') },
      { line: 5, column: 'consent_at', reason: 'consent_method needs consent_at (when it was given)' },
      { line: 6, column: 'consent_at', reason: 'consent_source needs consent_at (when it was given)' },
      { line: 7, column: 'consent_expires_at', reason: 'consent_expires_at must be after consent_at' },
      { line: 8, column: 'consent_at', reason: expect.stringContaining('"2026-11-30"') },
      { line: 9, column: 'consent_source', reason: expect.stringContaining('at most 1000 characters') },
    ]);
  });

  it('reads a file without consent columns as before (no consent)', async () => {
    const { written, report } = await importCsv('phone,name\n+14155550101,Ada\n');
    expect(report.imported).toBe(1);
    expect(written[0]).toMatchObject({ consent_at: null, consent_method: null, consent_source: null, consent_expires_at: null });
  });

  it('normalises a method as people write it', () => {
    for (const m of ['web form', 'WEB-FORM', ' web_form ']) {
      expect(parseConsentCells({ consent_at: '2026-11-30T09:15:00Z', consent_method: m })).toMatchObject({
        consent: { consent_method: 'web_form' },
      });
    }
  });
});

describe('requires_consent on a campaign', () => {
  it('is a boolean in the shared schema', () => {
    expect(CampaignCreate.safeParse({ name: 'x', requires_consent: true }).success).toBe(true);
    expect(CampaignPatch.safeParse({ requires_consent: false }).success).toBe(true);
    const bad = CampaignPatch.safeParse({ requires_consent: 'yes' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['requires_consent', 'requires_consent must be true or false'],
    ]);
    expect(CampaignPatch.safeParse({ requires_consent: null }).success).toBe(false);
  });

  it('is --requires-consent yes|no in the CLI', () => {
    expect(fieldsFromFlags({ 'requires-consent': 'yes' })).toEqual({ requires_consent: true });
    expect(fieldsFromFlags({ 'requires-consent': 'No' })).toEqual({ requires_consent: false });
    expect(() => fieldsFromFlags({ 'requires-consent': 'maybe' })).toThrow('--requires-consent takes yes or no');
  });
});
