// Properties of launch_due_calls() over random scenarios (fast-check): random campaigns (caps,
// contacts, max attempts, paused or not), a random global cap, and a random sequence of ticks,
// dispatches, call endings, pauses, resumptions and do-not-call listings, one minute apart.
// fast-check shrinks a failure to a minimal scenario, printed with its seed.

import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { invariantViolations, type Period } from '../support/invariants.ts';
import { ACTIVE, claimQueuedCalls, launchDueCalls } from '../support/rows.ts';

// A fixed seed keeps CI deterministic; FC_SEED=<n> explores other scenarios.
const SEED = Number(process.env.FC_SEED ?? 20261202);

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
});

afterAll(async () => {
  await closeClients([db]);
});

const campaignArb = fc.record({
  cap: fc.integer({ min: 1, max: 4 }),
  contacts: fc.integer({ min: 0, max: 8 }),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  status: fc.constantFrom('QUEUED' as const, 'RUNNING' as const, 'PAUSED' as const),
});

const stepArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'launch' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dispatch' as const), limit: fc.integer({ min: 1, max: 10 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      count: fc.integer({ min: 1, max: 5 }),
      status: fc.constantFrom('completed' as const, 'busy' as const, 'no_answer' as const, 'failed' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), campaign: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const), campaign: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('list' as const), contact: fc.nat() }) },
);

const scenarioArb = fc.record({
  globalCap: fc.integer({ min: 1, max: 12 }),
  campaigns: fc.array(campaignArb, { minLength: 1, maxLength: 5 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 25 }),
});

// Small campaigns and long runs, so that campaigns often run out of contacts to call.
const shortCampaignsArb = fc.record({
  globalCap: fc.integer({ min: 1, max: 6 }),
  campaigns: fc.array(
    fc.record({
      cap: fc.integer({ min: 1, max: 3 }),
      contacts: fc.integer({ min: 1, max: 3 }),
      maxAttempts: fc.integer({ min: 1, max: 2 }),
      status: fc.constantFrom('QUEUED' as const, 'RUNNING' as const),
    }),
    { minLength: 1, maxLength: 2 },
  ),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 40 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;
type Step = Scenario['steps'][number];

/**
 * Campaigns that launch_due_calls() left with a free slot while it could have filled it: below
 * their cap, with a contact it may call now, and the system below the global cap.
 */
async function slotsLeftEmpty(now: Date): Promise<string[]> {
  const { rows } = await db.query<{ violation: string }>(
    `with active as (select campaign_id from public.calls where status in ${ACTIVE})
     select format('campaign %s holds %s of %s slots while contact %s could be called and the system holds %s of %s',
                   c.id, (select count(*) from active a where a.campaign_id = c.id), c.max_concurrent_calls,
                   (select min(ct.id) from public.contacts ct
                     where ct.campaign_id = c.id and ct.status = 'pending' and ct.attempts < c.max_attempts
                       and ct.next_attempt_at <= $1
                       and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)),
                   (select count(*) from active), s.global_max_concurrent_calls) as violation
       from public.campaigns c, public.scheduler_settings s
      where c.status in ('QUEUED', 'RUNNING')
        and (select count(*) from active a where a.campaign_id = c.id) < c.max_concurrent_calls
        and (select count(*) from active) < s.global_max_concurrent_calls
        and exists (select 1 from public.contacts ct
                     where ct.campaign_id = c.id and ct.status = 'pending' and ct.attempts < c.max_attempts
                       and ct.next_attempt_at <= $1
                       and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone))`,
    [now],
  );
  return rows.map((r) => r.violation);
}

/**
 * Campaigns still open (QUEUED or RUNNING, with contacts) after a tick although nothing is left to
 * do: no active call and no contact that may ever be called again (pending, attempts left, number
 * not on the do-not-call list).
 */
async function campaignsLeftOpen(): Promise<string[]> {
  const { rows } = await db.query<{ violation: string }>(
    `select format('campaign %s is still %s with nothing left to call (contacts: %s)', c.id, c.status,
                   (select string_agg(format('%s %s, %s attempts%s', ct.id, ct.status, ct.attempts,
                                             case when exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone)
                                                  then ', listed' else '' end), '; ' order by ct.id)
                      from public.contacts ct where ct.campaign_id = c.id)) as violation
       from public.campaigns c
      where c.status in ('QUEUED', 'RUNNING')
        and exists (select 1 from public.contacts ct where ct.campaign_id = c.id)
        and not exists (select 1 from public.calls cl where cl.campaign_id = c.id and cl.status in ${ACTIVE})
        and not exists (select 1 from public.contacts ct
                         where ct.campaign_id = c.id and ct.status = 'pending' and ct.attempts < c.max_attempts
                           and not exists (select 1 from public.do_not_call_numbers d where d.phone = ct.phone))`,
  );
  return rows.map((r) => r.violation);
}

interface World {
  campaigns: string[];
  contacts: string[];
  pauses: Period[];
  listings: Period[];
}

async function setUp(scenario: Scenario): Promise<World> {
  await resetData(db);
  await updateSettings(db, UNTHROTTLED);
  await db.query('update public.scheduler_settings set global_max_concurrent_calls = $1', [scenario.globalCap]);
  const world: World = { campaigns: [], contacts: [], pauses: [], listings: [] };
  for (const [i, spec] of scenario.campaigns.entries()) {
    const id = await createCampaign(db, {
      name: `campaign ${i}`,
      cap: spec.cap,
      maxAttempts: spec.maxAttempts,
      status: spec.status,
      retryDelay: '1 minute',
    });
    world.campaigns.push(id);
    world.contacts.push(...(await addContacts(db, id, spec.contacts)));
    if (spec.status === 'PAUSED') world.pauses.push({ id, from: minutesAfterNoon(0), until: null });
  }
  return world;
}

async function apply(step: Step, world: World, now: Date): Promise<void> {
  switch (step.kind) {
    case 'launch':
      await launchDueCalls(db, now);
      return;
    case 'dispatch': {
      const claimed = await claimQueuedCalls(db, step.limit, now);
      for (const call of claimed.filter((c) => c.release_reason === null)) {
        await db.query(`select public.record_dispatch_result($1, 'accepted', $2, p_now => $3)`, [
          call.call_id,
          `CA-${call.call_id}`,
          now,
        ]);
      }
      return;
    }
    case 'end': {
      const { rows } = await db.query<{ id: string }>(
        `select id::text from public.calls where status in ('dialing', 'unknown', 'ringing', 'in_progress') order by id limit $1`,
        [step.count],
      );
      for (const { id } of rows) {
        await db.query(`select public.apply_call_status($1, 'twilio', null, $2, p_now => $3)`, [id, step.status, now]);
      }
      return;
    }
    case 'pause': {
      const id = world.campaigns[step.campaign % world.campaigns.length]!;
      const { rowCount } = await db.query(
        `update public.campaigns set status = 'PAUSED' where id = $1 and status in ('QUEUED', 'RUNNING')`,
        [id],
      );
      if (rowCount) world.pauses.push({ id, from: now, until: null });
      // What the tick's housekeeping does next: release the paused campaign's queued calls.
      await db.query('select public.release_stale_queued_calls($1)', [now]);
      return;
    }
    case 'resume': {
      const id = world.campaigns[step.campaign % world.campaigns.length]!;
      const { rowCount } = await db.query(`update public.campaigns set status = 'RUNNING' where id = $1 and status = 'PAUSED'`, [
        id,
      ]);
      const open = world.pauses.find((p) => p.id === id && p.until === null);
      if (rowCount && open) open.until = now;
      return;
    }
    case 'list': {
      if (world.contacts.length === 0) return;
      const contactId = world.contacts[step.contact % world.contacts.length]!;
      const { rows } = await db.query<{ phone: string }>(
        `insert into public.do_not_call_numbers (phone, added_at)
         select phone, $2 from public.contacts where id = $1
         on conflict do nothing returning phone`,
        [contactId, now],
      );
      for (const { phone } of rows) world.listings.push({ id: phone, from: now, until: null });
      return;
    }
  }
}

describe('launch_due_calls() over random scenarios', () => {
  it('keeps invariants 1-3 after every step and leaves no slot empty that it could fill', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const world = await setUp(scenario);
        for (const [i, step] of scenario.steps.entries()) {
          const now = minutesAfterNoon(i + 1);
          await apply(step, world, now);
          expect(await invariantViolations(db, world), `after step ${i + 1} (${step.kind})`).toEqual([]);
          if (step.kind === 'launch') {
            expect(await slotsLeftEmpty(now), `after the launch at step ${i + 1}`).toEqual([]);
          }
        }
      }),
      { numRuns: 100, seed: SEED },
    );
  });

  it('completes every campaign that has nothing left to call', async () => {
    await fc.assert(
      fc.asyncProperty(shortCampaignsArb, async (scenario) => {
        const world = await setUp(scenario);
        for (const [i, step] of scenario.steps.entries()) await apply(step, world, minutesAfterNoon(i + 1));
        await launchDueCalls(db, minutesAfterNoon(scenario.steps.length + 1));
        expect(await campaignsLeftOpen()).toEqual([]);
      }),
      { numRuns: 300, seed: SEED },
    );
  });
});
