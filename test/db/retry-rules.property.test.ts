// Retry rules by outcome over random scenarios (fast-check): a campaign with random rules (for busy,
// no answer and failed: retried or not, and a delay; for a machine answer: the campaign's
// machine_answer_policy and a delay) and a random max_attempts; one contact called again and again,
// each call ending with the next outcome of a random sequence (busy, no answer, failed, canceled, a
// machine, a person). After each call's end: the contact is retried exactly when its attempts are not
// used up and the rule for that outcome says yes, and then its next_attempt_at is the call's end plus
// the outcome's delay (not a second earlier is it reserved); otherwise it is ended and never called
// again; it is never called more than max_attempts times.

import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { claimQueuedCalls, launchDueCalls } from '../support/rows.ts';

const SEED = Number(process.env.FC_SEED ?? 20261206);

const OUTCOMES = ['busy', 'no_answer', 'failed', 'canceled', 'machine', 'person'] as const;
type Outcome = (typeof OUTCOMES)[number];

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
});

afterAll(async () => {
  await closeClients([db]);
});

const ruleArb = fc.record({ retry: fc.boolean(), minutes: fc.integer({ min: 1, max: 600 }) });

const scenarioArb = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 6 }),
  busy: ruleArb,
  noAnswer: ruleArb,
  failed: ruleArb,
  machine: fc.record({ retry: fc.boolean(), minutes: fc.integer({ min: 1, max: 600 }) }),
  // Each call: its outcome and how many seconds after it was placed it ended.
  calls: fc.array(fc.record({ outcome: fc.constantFrom(...OUTCOMES), seconds: fc.integer({ min: 1, max: 900 }) }), {
    minLength: 1,
    maxLength: 8,
  }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** The rule that applies to an outcome: retried or not, and after how many minutes. */
function ruleFor(s: Scenario, outcome: Outcome): { retry: boolean; minutes: number } | null {
  switch (outcome) {
    case 'busy':
      return s.busy;
    case 'no_answer':
      return s.noAnswer;
    case 'failed':
    case 'canceled':
      return s.failed;
    case 'machine':
      return s.machine;
    case 'person':
      return null; // a person reached: done
  }
}

async function contact(id: string) {
  const { rows } = await db.query<{ status: string; attempts: number; next_attempt_at: Date; calls: number }>(
    `select ct.status::text, ct.attempts, ct.next_attempt_at,
            (select count(*)::integer from public.calls cl where cl.contact_id = ct.id and cl.released_at is null) as calls
       from public.contacts ct where ct.id = $1`,
    [id],
  );
  return rows[0]!;
}

describe('retry rules by outcome over random scenarios', () => {
  it('retries only while attempts remain and the outcome says so, at the outcome delay after the call ended', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        await resetData(db);
        await updateSettings(db, { ...UNTHROTTLED, queued_call_ttl: '1 day' });
        const campaign = await createCampaign(db, { name: 'retry rules', cap: 5, maxAttempts: s.maxAttempts });
        await db.query(
          `update public.campaigns
              set retry_busy = $2, retry_busy_delay = make_interval(mins => $3),
                  retry_no_answer = $4, retry_no_answer_delay = make_interval(mins => $5),
                  retry_failed = $6, retry_failed_delay = make_interval(mins => $7),
                  machine_answer_policy = $8, retry_machine_delay = make_interval(mins => $9)
            where id = $1`,
          [
            campaign,
            s.busy.retry,
            s.busy.minutes,
            s.noAnswer.retry,
            s.noAnswer.minutes,
            s.failed.retry,
            s.failed.minutes,
            s.machine.retry ? 'retry' : 'done',
            s.machine.minutes,
          ],
        );
        const [id] = await addContacts(db, campaign, 1);
        let now = minutesAfterNoon(0);

        for (const [k, call] of s.calls.entries()) {
          const before = await contact(id!);
          if (before.status !== 'pending') break;
          // Due at next_attempt_at, not a second before (the first call: due since before noon).
          if (k > 0) {
            await launchDueCalls(db, new Date(before.next_attempt_at.getTime() - 1000));
            expect((await db.query(`select 1 from public.calls where contact_id = $1 and status = 'queued'`, [id])).rowCount)
              .toBe(0);
            now = before.next_attempt_at;
          }
          await launchDueCalls(db, now);
          const claimed = await claimQueuedCalls(db, 10, now);
          expect(claimed.map((c) => c.release_reason)).toEqual([null]);
          const callId = claimed[0]!.call_id;
          const end = new Date(now.getTime() + call.seconds * 1000);
          const machine = call.outcome === 'machine';
          const status = machine || call.outcome === 'person' ? 'completed' : call.outcome;
          await db.query(
            `select public.apply_call_status($1, 'twilio', $2, $3::public.call_status, 20, p_now => $4,
                                             p_answered_by => $5)`,
            [callId, `CA-${callId}`, status, end, machine ? 'machine_end_beep' : call.outcome === 'person' ? 'human' : null],
          );

          const after = await contact(id!);
          const rule = ruleFor(s, call.outcome);
          expect(after.attempts).toBe(k + 1);
          expect(after.calls).toBeLessThanOrEqual(s.maxAttempts);
          if (rule === null) {
            expect(after.status).toBe('done');
          } else if (!rule.retry) {
            expect(after.status).toBe(machine ? 'done' : 'exhausted');
          } else if (after.attempts >= s.maxAttempts) {
            expect(after.status).toBe('exhausted');
          } else {
            expect(after.status).toBe('pending');
            expect(after.next_attempt_at.getTime()).toBe(end.getTime() + rule.minutes * 60_000);
          }
          now = end;
        }

        // Whatever happened, nothing more is called once the contact is ended, even days later.
        const last = await contact(id!);
        if (last.status !== 'pending') {
          await launchDueCalls(db, minutesAfterNoon(60 * 24 * 40));
          expect((await contact(id!)).calls).toBe(last.calls);
        }
        expect(last.calls).toBeLessThanOrEqual(s.maxAttempts);
      }),
      { numRuns: 40, seed: SEED },
    );
  });
});
