// Contacts from CSV through scheduler-admin (POST /campaigns/<id>/contacts), against the real
// gateway (csv-parse and libphonenumber-js loaded by Deno from npm) and database: numbers normalised
// to E.164 with a default region, per-row errors with line and column, duplicates reported, good
// rows imported; hostile files (wrong delimiter, BOM, quotes, a 10 MB line, UTF-16, Latin-1) give
// clear answers and say what was imported; the export neutralises formulas.

import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { csvCell } from '../../supabase/functions/_shared/csv-export.ts';
import { createCampaign } from '../support/builders.ts';
import { connect, disableCronJobs, resetData } from '../support/db.ts';
import { functionsEnv, type Gateway, startGateway, startSim, type TwilioSimulator } from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

let db: pg.Client;
let sim: TwilioSimulator;
let gw: Gateway;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
  sim = await startSim({ seed: 14, callbacks: false });
  env = functionsEnv(sim);
  gw = await startGateway(env);
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await sim?.close();
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
});

function upload(id: string, body: string | Uint8Array<ArrayBuffer>, query = 'region=US'): Promise<HttpAnswer> {
  return request(`${gw.url}/scheduler-admin/campaigns/${id}/contacts?${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'text/csv' },
    body,
    signal: AbortSignal.timeout(60_000),
  });
}

async function phones(id: string): Promise<string[]> {
  return (await db.query<{ phone: string }>('select phone from public.contacts where campaign_id = $1 order by id', [id])).rows
    .map((
      r,
    ) => r.phone);
}

describe('CSV import', () => {
  it('normalises numbers, imports the good rows, reports bad ones by line and column and duplicates by line', async () => {
    const id = await createCampaign(db);
    const csv = [
      'name,phone,time_zone,plan',
      'Ada,(415) 555-0132,America/Los_Angeles,gold',
      'Bob,+44 20 7946 0958,,silver',
      'Cy,12,,',
      'Dee,"415.555.0132",,dup of line 2',
      'Eve,+1 212 555 0147,Mars/Base,',
      'Fay,212-555-0198,,"a, quoted; cell"',
      'Gus,+33 1 23 45 67 89,too,many,fields',
      '',
    ].join('\n');
    const res = await upload(id, csv);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      rows: 7,
      imported: 3,
      duplicates: 1,
      duplicate_lines: [5],
      errors_total: 3,
      complete: true,
    });
    expect(res.json.errors).toEqual([
      { line: 4, column: 'phone', reason: expect.stringContaining('"12"') },
      { line: 8, column: '', reason: expect.stringContaining('5 fields where the header has 4') },
      { line: 6, column: 'time_zone', reason: 'not a time zone: Mars/Base' },
    ]);
    expect(await phones(id)).toEqual(['+14155550132', '+442079460958', '+12125550198']);
    const fay = (await db.query('select name, metadata from public.contacts where phone = $1', ['+12125550198'])).rows[0];
    expect(fay).toEqual({ name: 'Fay', metadata: { plan: 'a, quoted; cell' } });
    const audit = (await db.query(`select actor, action, subject, after from public.operator_audit_log`)).rows;
    expect(audit).toMatchObject([{
      actor: 'admin_token',
      action: 'contacts.import',
      subject: `campaign ${id}`,
      after: { imported: 3 },
    }]);

    // The same file again: every good row is now a duplicate, nothing is added.
    const again = await upload(id, csv);
    expect(again.json).toMatchObject({ imported: 0, duplicates: 4 });
  });

  it('gives clear answers to hostile files, and says what was imported before a stop', async () => {
    const id = await createCampaign(db);
    // Wrong delimiter: told which one to send.
    const semi = await upload(id, 'name;phone\nAda;+14155550132\n');
    expect(semi.status).toBe(422);
    expect(semi.json.stopped.reason).toContain('delimiter=%3B');
    expect(semi.json.imported).toBe(0);
    expect((await upload(id, 'name;phone\nAda;+14155550132\n', 'delimiter=%3B')).json.imported).toBe(1);

    // A BOM is not part of the first column's name.
    expect((await upload(id, '\uFEFFphone,name\n+14155550133,Bo\n')).json).toMatchObject({ imported: 1, complete: true });

    // Quotes: doubled quotes inside quotes are data; a stray quote is that row's error.
    const quoted = await upload(id, 'phone,name\n+14155550134,"Ann ""the"" Boss"\n+14155550135,Jo"e\n+14155550136,Kim\n');
    expect(quoted.json).toMatchObject({ imported: 2, errors_total: 1, complete: true });
    expect(quoted.json.errors[0]).toMatchObject({ line: 3 });
    expect((await db.query(`select name from public.contacts where phone = '+14155550134'`)).rows[0].name).toBe('Ann "the" Boss');

    // A 10 MB line stops the import there; the rows before it are imported and the answer says so.
    const before = (await phones(id)).length;
    const huge = `phone,name\n+14155550137,ok\n+14155550138,${'x'.repeat(10 * 1024 * 1024)}\n+14155550139,after\n`;
    const stopped = await upload(id, huge);
    expect(stopped.status).toBe(422);
    expect(stopped.json).toMatchObject({ complete: false, imported: 1, stopped: { line: 3 } });
    expect(stopped.json.message).toMatch(/line 3: a record longer than 65536 bytes.*1 rows imported before it/);
    expect((await phones(id)).length).toBe(before + 1);

    // Wrong encodings: UTF-16 (with its BOM) and Latin-1 are refused with how to fix it.
    const utf16 = new Uint8Array([0xff, 0xfe, ...Array.from(Buffer.from('phone\n+14155550140\n', 'utf16le'))]);
    const u16 = await upload(id, utf16);
    expect(u16.status).toBe(422);
    expect(u16.json.stopped.reason).toContain('UTF-16');
    const latin1 = await upload(id, Buffer.from('phone,name\n+14155550141,Jos\u00e9\n', 'latin1'));
    expect(latin1.json.stopped.reason).toContain('not UTF-8');
    expect(latin1.json.imported).toBe(0);
    expect(await phones(id)).not.toContain('+14155550141');

    // No header, not a CSV, not text/csv.
    expect((await upload(id, '')).json.stopped.reason).toContain('empty');
    expect((await upload(id, 'who,what\n1,2\n')).json.stopped.reason).toContain('no phone column');
    expect((await upload(id, 'phone\n+14155550142\n', 'region=ZZ')).status).toBe(400);
    expect((await upload('999999', 'phone\n')).status).toBe(404);
  });

  it('exports contacts with their outcomes, formulas neutralised', async () => {
    expect(['=1+1', '+1', '-2', '@SUM(A1)', 'plain', 'a,b', 'say "hi"'].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-2",
      "'@SUM(A1)",
      'plain',
      '"a,b"',
      '"say ""hi"""',
    ]);
    const id = await createCampaign(db);
    await upload(id, 'phone,name,note\n+14155550150,"=HYPERLINK(""http://evil"")",@cmd\n+14155550151,Ann,fine\n');
    await db.query(
      `update public.contacts set status = 'done', attempts = 1, last_call_status = 'completed' where phone = '+14155550151'`,
    );
    const res = await request(`${gw.url}/scheduler-admin/campaigns/${id}/export`, {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'id,phone,name,time_zone,status,attempts,last_call_status,last_error,next_attempt_at,created_at,updated_at,metadata,calling_zones,zone_source,consent_at,consent_method,consent_source,consent_expires_at',
    );
    // The zones the calling-hours rules use for each number, and where they come from (no consent).
    expect(lines[1]).toMatch(/,America\/Los_Angeles,number,,,,$/);
    expect(lines[1]).toContain(`'+14155550150,"'=HYPERLINK(""http://evil"")",,pending,0`);
    expect(lines[1]).toContain('"{""note"":""@cmd""}"');
    expect(lines[2]).toContain(`'+14155550151,Ann,,done,1,completed`);
    // An export imports back (the ' before + is stripped): both numbers are duplicates.
    expect((await upload(id, res.text)).json).toMatchObject({ imported: 0, duplicates: 2 });
  });

  it('imports consent evidence, refuses bad evidence by line and column, and exports it so that it imports back', async () => {
    const id = await createCampaign(db);
    const csv = [
      'phone,consent_at,consent_method,consent_source,consent_expires_at',
      '+14155550150,2026-11-30T09:15:00+01:00,web form,https://example.test/optin,2027-11-30T09:15:00+01:00',
      '+14155550151,,,,',
      '+14155550152,2026-11-30T09:15:00Z,fax,,',
      '+14155550153,2026-11-30T09:15:00Z,sms,,2026-11-01T00:00:00Z',
      '+14155550154,2026-11-30T09:15:00Z,written,"signed form #12, page 2",',
    ].join('\n');
    const res = await upload(id, csv);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ rows: 5, imported: 3, errors_total: 2 });
    expect(res.json.errors).toEqual([
      { line: 4, column: 'consent_method', reason: expect.stringContaining('"fax"') },
      { line: 5, column: 'consent_expires_at', reason: 'consent_expires_at must be after consent_at' },
    ]);
    const stored = await db.query<
      { phone: string; consent_at: Date | null; consent_method: string | null; consent_expires_at: Date | null }
    >(
      'select phone, consent_at, consent_method, consent_expires_at from public.contacts where campaign_id = $1 order by phone',
      [id],
    );
    expect(
      stored.rows.map((
        r,
      ) => [r.phone, r.consent_at?.toISOString() ?? null, r.consent_method, r.consent_expires_at?.toISOString() ?? null]),
    )
      .toEqual([
        ['+14155550150', '2026-11-30T08:15:00.000Z', 'web_form', '2027-11-30T08:15:00.000Z'],
        ['+14155550151', null, null, null],
        ['+14155550154', '2026-11-30T09:15:00.000Z', 'written', null],
      ]);

    const exported = await request(`${gw.url}/scheduler-admin/campaigns/${id}/export`, {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    const lines = exported.text.trimEnd().split('\r\n');
    expect(lines[1]).toMatch(/,2026-11-30T08:15:00\.000Z,web_form,https:\/\/example\.test\/optin,2027-11-30T08:15:00\.000Z$/);
    expect(lines[2]).toMatch(/,,,,$/);
    expect(lines[3]).toMatch(/,2026-11-30T09:15:00\.000Z,written,"signed form #12, page 2",$/);
    // Into another campaign, the export brings the same evidence.
    const other = await createCampaign(db);
    expect((await upload(other, exported.text)).json).toMatchObject({ imported: 3, errors_total: 0 });
    const copied = await db.query<{ same: boolean }>(
      `select bool_and(a.consent_at is not distinct from b.consent_at and a.consent_method is not distinct from b.consent_method
                       and a.consent_source is not distinct from b.consent_source
                       and a.consent_expires_at is not distinct from b.consent_expires_at) as same
         from public.contacts a join public.contacts b on b.phone = a.phone and b.campaign_id = $2
        where a.campaign_id = $1`,
      [id, other],
    );
    expect(copied.rows[0]!.same).toBe(true);
  });

  it("records, corrects and clears a contact's consent through PATCH, audited; refuses bad evidence by field", async () => {
    const id = await createCampaign(db);
    await upload(id, 'phone\n+14155550160\n');
    const contact =
      (await db.query<{ id: string }>('select id::text from public.contacts where campaign_id = $1', [id])).rows[0]!.id;
    const patch = (body: unknown, campaign = id, contactId = contact) =>
      request(`${gw.url}/scheduler-admin/campaigns/${campaign}/contacts/${contactId}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const given = await patch({
      consent_at: '2026-11-30T10:15:00+01:00',
      consent_method: 'Web form',
      consent_source: ' signup page ',
    });
    expect(given.status).toBe(200);
    expect(given.json).toMatchObject({
      id: Number(contact),
      phone: '+14155550160',
      consent_method: 'web_form',
      consent_source: 'signup page',
      consent_expires_at: null,
    });
    expect(Date.parse(given.json.consent_at)).toBe(Date.parse('2026-11-30T09:15:00Z'));

    // The schema: unknown fields, an unknown method, an expiry before the consent in the same request.
    const refused = await patch({
      consent_method: 'fax',
      consent_at: '2026-12-01T00:00:00Z',
      consent_expires_at: '2026-11-01T00:00:00Z',
      x: 1,
    });
    expect(refused.status).toBe(400);
    expect(refused.json.issues.map((i: { field: string }) => i.field)).toEqual(
      expect.arrayContaining(['consent_method', '(body)']),
    );
    expect((await patch({})).status).toBe(400);
    // The table: an expiry before the stored consent, named by field.
    const early = await patch({ consent_expires_at: '2026-11-01T00:00:00Z' });
    expect(early.status).toBe(400);
    expect(early.json.field).toBe('consent_expires_at');
    expect(early.json.message).toContain('contacts_consent_expires_after_given');

    const cleared = await patch({ consent_at: null, consent_method: null, consent_source: null });
    expect(cleared.json).toMatchObject({ consent_at: null, consent_method: null, consent_source: null });
    expect((await patch({ consent_source: 'x' }, id, '999999')).status).toBe(404);
    const other = await createCampaign(db);
    expect((await patch({ consent_source: 'x' }, other)).status).toBe(404);

    const audit = await db.query<{ action: string; before: Record<string, unknown>; after: Record<string, unknown> }>(
      `select action, before, after from public.operator_audit_log where action = 'contact.consent' order by id`,
    );
    expect(audit.rows.map((r) => [r.before.consent_method, r.after.consent_method])).toEqual([[null, 'web_form'], [
      'web_form',
      null,
    ]]);
  });
});
