// Consent over random scenarios (fast-check): contacts of a campaign that requires consent, each
// with or without consent given at some minute around the suite's clock (Wednesday 2 December 2026,
// 12:00 UTC) and maybe expiring some minutes later, then a random sequence of reservations and
// claims as the clock moves on by minutes, with consent now and then withdrawn or renewed. After each
// step: no call reserved or dialled at that instant without valid consent (the invariant checker),
// every contact whose consent is valid has been reserved (the cap leaves room for all), and a claim
// releases a call, saying 'no valid consent', exactly when its contact's consent is no longer valid.

import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { invariantViolations } from '../support/invariants.ts';
import { claimQueuedCalls, launchDueCalls } from '../support/rows.ts';

const SEED = Number(process.env.FC_SEED ?? 20261206);

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
});

afterAll(async () => {
  await closeClients([db]);
});

/** Minutes after noon; consent given from `at`, until `at + lasts` when lasts is set. */
const consentArb = fc.option(
  fc.record({
    at: fc.integer({ min: -120, max: 120 }),
    lasts: fc.option(fc.integer({ min: 1, max: 120 }), { nil: null }),
  }),
  { nil: null, freq: 4 },
);

const stepArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('launch' as const), minutes: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('claim' as const), minutes: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('record' as const), contact: fc.nat(), consent: consentArb }) },
);

const scenarioArb = fc.record({
  contacts: fc.array(consentArb, { minLength: 1, maxLength: 10 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 20 }),
});

/** Sets (or clears) a contact's consent, times in minutes after noon. */
async function recordConsent(contactId: string, consent: { at: number; lasts: number | null } | null): Promise<void> {
  await db.query(
    `update public.contacts
        set consent_at = $2, consent_method = case when $2::timestamptz is not null then 'verbal' end,
            consent_expires_at = $3
      where id = $1`,
    [
      contactId,
      consent ? minutesAfterNoon(consent.at) : null,
      consent && consent.lasts !== null ? minutesAfterNoon(consent.at + consent.lasts) : null,
    ],
  );
}

/** Pending contacts with valid consent at `now` that have no call: the reservation should have taken them. */
async function validButWaiting(now: Date): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select ct.id::text from public.contacts ct join public.campaigns c on c.id = ct.campaign_id
      where ct.status = 'pending' and ct.attempts < c.max_attempts
        and ct.consent_at <= $1 and (ct.consent_expires_at is null or ct.consent_expires_at > $1)
      order by ct.id`,
    [now],
  );
  return rows.map((r) => r.id);
}

/** Whether contact `id`'s consent is valid at `now`. */
async function consentValid(id: string, now: Date): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(
    `select coalesce(consent_at <= $2 and (consent_expires_at is null or consent_expires_at > $2), false) as ok
       from public.contacts where id = $1`,
    [id, now],
  );
  return rows[0]!.ok;
}

describe('requires_consent over random scenarios', () => {
  it('reserves and dials only with valid consent, reserves every contact that has it, releases the rest at claim', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        await resetData(db);
        // A queued call may wait all scenario long: only consent releases it.
        await updateSettings(db, { ...UNTHROTTLED, queued_call_ttl: '1 day' });
        const campaign = await createCampaign(db, { name: 'consent', cap: 20 });
        await db.query('update public.campaigns set requires_consent = true where id = $1', [campaign]);
        const ids = await addContacts(db, campaign, scenario.contacts.length);
        for (const [k, consent] of scenario.contacts.entries()) await recordConsent(ids[k]!, consent);

        let minute = 0;
        for (const step of scenario.steps) {
          if (step.kind === 'record') {
            await recordConsent(ids[step.contact % ids.length]!, step.consent);
            continue;
          }
          minute += step.minutes;
          const now = minutesAfterNoon(minute);
          if (step.kind === 'launch') {
            await launchDueCalls(db, now);
            expect(await validButWaiting(now)).toEqual([]);
          } else {
            for (const call of await claimQueuedCalls(db, 100, now)) {
              const valid = await consentValid(call.contact_id, now);
              expect(call.release_reason === 'no valid consent').toBe(!valid);
              if (valid) expect(call.release_reason).toBeNull();
            }
          }
          expect(await invariantViolations(db, { now, allowRunning: true })).toEqual([]);
        }
      }),
      { numRuns: 60, seed: SEED },
    );
  });
});
