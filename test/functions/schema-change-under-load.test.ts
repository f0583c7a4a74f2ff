// A migration applied while the scheduler runs (docs/DEPLOY.md, "Upgrading": the kinds of change
// that need no pause): the fixture of the next release's change (test/fixtures/upgrade/: a column
// with a constant default and an index on calls, a released function replaced with the same
// signature) is pushed with the real Supabase CLI while ticks come every couple of seconds and
// their dispatchers go on in the background against the Twilio simulator, whose signed status
// callbacks end the calls. Afterwards every contact has been called exactly once, nothing is lost
// (calls per contact, calls at the simulator), and the invariants hold.
//
// In a database of its own (test/support/upgrade.ts), so the change does not reach the database
// the other files of this runner use. The clock: the real one. So that the hour the suite runs at
// cannot matter, the database starts as every runner's does (resetData(): no calling-hours rule;
// the seeded rules close +1 numbers of unknown area code from 21:00 in St. John's, 00:30 UTC), and
// the campaign's window is the whole day.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentMigrations } from '../../scripts/release.ts';
import { databaseName, databaseUrl } from '../../scripts/stack/test-databases.ts';
import { installTestsSchema } from '../../scripts/tests-schema.ts';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { disableCronJobs, functionsDbUrl, resetData, updateSettings } from '../support/db.ts';
import {
  ALL_COMPLETED,
  functionsEnv,
  type Gateway,
  postTick,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { dialledTwice, invariantViolations } from '../support/invariants.ts';
import {
  blankDatabase,
  copyDatabase,
  dropDatabases,
  migrationPaths,
  NEXT_MIGRATION,
  pushMigrationFiles,
  scratchName,
} from '../support/upgrade.ts';

const SECRET = randomSecret();
const names = { blank: scratchName('live_blank'), db: scratchName('live_db') };
const CONTACTS = 60;

let url: string;
let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;

beforeAll(async () => {
  const blank = await blankDatabase(names.blank);
  url = await copyDatabase(blank, names.db);
  await dropDatabases([names.blank]);
  await pushMigrationFiles(url, migrationPaths(currentMigrations().map((m) => m.file)));
  await installTestsSchema(url);
  pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'test-suite' });
  pool.on('error', () => undefined);
  await disableCronJobs(pool);
  await resetData(pool);
  sim = await startSim({ timeScale: 0.02, outcomes: ALL_COMPLETED });
  // The functions reach the scratch database the way they reach the runner's (pooler or direct).
  gw = await startGateway(functionsEnv(sim, { CRON_SECRET: SECRET }, databaseUrl(functionsDbUrl(), databaseName(url))));
}, 240_000);

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
  await dropDatabases(Object.values(names));
});

describe('a migration while the scheduler dials', () => {
  it('loses no call and dials nobody twice', { timeout: 240_000 }, async () => {
    await updateSettings(pool, {
      provider_calls_per_second: 10,
      rate_margin_ms: 200,
      tick_budget_ms: 1000,
      background_dispatch_ms: 20_000,
      refill_interval_ms: 100,
    });
    const campaign = await createCampaign(pool, { cap: 8, maxAttempts: 1 });
    const phones = freshPhones(CONTACTS);
    await addContacts(pool, campaign, phones);

    // Ticks every two seconds, as a fast cron would, until told to stop.
    let ticking = true;
    const ticks = (async () => {
      while (ticking) {
        await postTick(gw, SECRET).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    try {
      await waitFor('calls under way', () => sim.stats().created >= 10, { timeoutMs: 60_000 });
      const createdBefore = sim.stats().created;
      const pushStart = Date.now();
      await pushMigrationFiles(url, [...migrationPaths(currentMigrations().map((m) => m.file)), NEXT_MIGRATION]);
      console.log(
        `[schema change under load] pushed in ${Date.now() - pushStart} ms; calls created before the push ` +
          `${createdBefore}, by its end ${sim.stats().created}, of ${CONTACTS}`,
      );
      // The change is there, and dialling went on after it.
      const column = await pool.query(
        `select 1 from information_schema.columns where table_schema = 'public' and table_name = 'calls' and column_name = 'answered_region'`,
      );
      expect(column.rowCount).toBe(1);
      expect(createdBefore).toBeLessThan(CONTACTS);
      await waitFor('every contact called', async () => {
        const { rows } = await pool.query<{ n: number }>(
          `select count(*)::int as n from public.contacts where campaign_id = $1 and status = 'done'`,
          [campaign],
        );
        return rows[0]!.n === CONTACTS;
      }, { timeoutMs: 150_000 });
    } finally {
      ticking = false;
      await ticks;
    }

    expect(sim.stats().created).toBe(CONTACTS);
    expect(dialledTwice(sim)).toEqual([]);
    for (const p of phones) expect(sim.stats().createdPerNumber[p], p).toBe(1);
    const { rows } = await pool.query<{ calls: number; contacts: number; completed: number }>(
      `select count(*)::int as calls, count(distinct contact_id)::int as contacts,
              count(*) filter (where status = 'completed')::int as completed
         from public.calls where campaign_id = $1`,
      [campaign],
    );
    expect(rows[0]).toEqual({ calls: CONTACTS, contacts: CONTACTS, completed: CONTACTS });
    // Stop the last background dispatcher before checking that no run is left running.
    await pool.query(`update public.scheduler_leases set expires_at = now() where name = 'dispatch'`);
    await waitFor('every run finished', async () => {
      const r = await pool.query(`select 1 from public.scheduler_runs where finished_at is null`);
      return r.rowCount === 0;
    }, { timeoutMs: 30_000 });
    expect(await invariantViolations(pool)).toEqual([]);
  });
});
