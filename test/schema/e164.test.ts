// One E.164 rule: the same case list against the database's CHECK constraints (live) and the
// TypeScript function the Twilio adapter uses (supabase/functions/_shared/phone.ts).

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E164_PATTERN, isE164 } from '../../supabase/functions/_shared/phone.ts';
import { createCampaign } from '../support/builders.ts';
import { connect } from '../support/db.ts';

const CASES: Array<[string, boolean]> = [
  ['+15551234567', true],
  ['+33612345678', true],
  ['+4930123456', true],
  ['+1234567', true], // 7 digits: the shortest
  ['+123456789012345', true], // 15 digits: the longest
  ['+123456', false], // 6 digits
  ['+1234567890123456', false], // 16 digits
  ['+0123456789', false], // leading 0
  ['15551234567', false], // no plus
  ['++15551234567', false],
  ['+1 555 123 4567', false],
  ['+1-555-123-4567', false],
  ['+1555123456a', false],
  [' +15551234567', false],
  ['+15551234567 ', false],
  ['+15551234567\n', false],
  ['+', false],
  ['', false],
  ['+١٢٣٤٥٦٧٨', false], // other digits
];

const CONSTRAINTS = ['campaigns_caller_id_is_e164', 'contacts_phone_is_e164', 'do_not_call_numbers_phone_is_e164'];

let db: pg.Client;
beforeAll(async () => {
  db = await connect();
});
afterAll(async () => {
  await db?.end();
});

/** Which constraint (if any) refuses phone in each table that holds a number. */
async function sqlVerdicts(phone: string): Promise<boolean[]> {
  await db.query('begin');
  try {
    const campaign = await createCampaign(db, { name: 'e164' });
    const attempts: Array<[string, unknown[]]> = [
      ['update public.campaigns set caller_id = $2 where id = $1', [campaign, phone]],
      ['insert into public.contacts (campaign_id, phone) values ($1, $2)', [campaign, phone]],
      ['insert into public.do_not_call_numbers (phone) values ($1) on conflict do nothing', [phone]],
    ];
    const verdicts: boolean[] = [];
    for (const [k, [sql, params]] of attempts.entries()) {
      await db.query('savepoint s');
      try {
        await db.query(sql, params);
        verdicts.push(true);
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        expect(e, `${JSON.stringify(phone)} in ${CONSTRAINTS[k]}`).toMatchObject({ code: '23514', constraint: CONSTRAINTS[k] });
        verdicts.push(false);
      }
      await db.query('rollback to savepoint s');
    }
    return verdicts;
  } finally {
    await db.query('rollback');
  }
}

describe('E.164: one rule in SQL and TypeScript', () => {
  it('the TypeScript pattern is the one in each CHECK constraint', async () => {
    const { rows } = await db.query<{ name: string; def: string }>(
      `select conname as name, pg_get_constraintdef(oid) as def from pg_constraint
        where conname = any($1) order by conname`,
      [CONSTRAINTS],
    );
    expect(rows.map((r) => r.name)).toEqual([...CONSTRAINTS].sort());
    for (const r of rows) expect(r.def, r.name).toContain(`'${E164_PATTERN.source}'::text`);
  });

  it.each(CASES)('%j: %s on both sides', async (phone, valid) => {
    expect(isE164(phone)).toBe(valid);
    expect(await sqlVerdicts(phone)).toEqual([valid, valid, valid]);
  });
});
