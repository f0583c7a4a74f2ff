// Things that must happen once even when many instances ask at the same moment, raced over 8
// separate connections: one circuit-breaker probe after the cool-down, one real run per trigger and
// scheduled minute (invariant 5: every other delivery is recorded as a duplicate), one manual run
// per rate-limit interval.

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { minutesAfterNoon } from '../support/clock.ts';
import { closeClients, disableCronJobs, openClients, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';

const RACERS = 8;
let admin: pg.Client;
let racers: pg.Client[];

beforeAll(async () => {
  admin = (await openClients(1))[0]!;
  await disableCronJobs(admin);
  racers = await openClients(RACERS);
});

afterAll(async () => {
  await closeClients([admin, ...racers]);
});

beforeEach(async () => {
  await resetData(admin);
  await updateSettings(admin, UNTHROTTLED);
});

describe('the circuit breaker under concurrent dispatchers', () => {
  it('grants exactly one probe when the cool-down ends', async () => {
    await admin.query(`update public.scheduler_settings set breaker_failure_threshold = 2, breaker_cooldown = '60 seconds'`);
    await admin.query(`select public.record_provider_result('default', false, 'HTTP 500', $1)`, [minutesAfterNoon(0)]);
    await admin.query(`select public.record_provider_result('default', false, 'HTTP 500', $1)`, [minutesAfterNoon(0)]);

    const answers = await Promise.all(
      racers.map(async (c) => {
        const { rows } = await c.query<{ p: string }>(`select public.acquire_dispatch_permit('default', $1) as p`, [
          minutesAfterNoon(1),
        ]);
        return rows[0]!.p;
      }),
    );

    expect(answers.filter((a) => a === 'probe')).toHaveLength(1);
    expect(answers.filter((a) => a === 'open')).toHaveLength(RACERS - 1);
  });

  it('opens after the threshold even when the failures are reported concurrently', async () => {
    await admin.query(`update public.scheduler_settings set breaker_failure_threshold = 5`);

    await Promise.all(
      racers.map((c) => c.query(`select public.record_provider_result('default', false, 'timeout', $1)`, [minutesAfterNoon(0)])),
    );

    const { rows } = await admin.query(`select state, consecutive_failures from public.provider_circuit_breakers`);
    expect(rows).toEqual([{ state: 'open', consecutive_failures: RACERS }]);
  });
});

describe('tick identity under concurrent deliveries', () => {
  it('records one run and duplicates for 8 simultaneous deliveries of the same minute', async () => {
    const results = await Promise.all(
      racers.map(async (c) => {
        const { rows } = await c.query<{ run_id: string; duplicate_of: string | null }>(
          `select run_id::text, duplicate_of::text from public.start_scheduler_run('vercel', $1, '{}', $2)`,
          [minutesAfterNoon(0), minutesAfterNoon(0.5)],
        );
        return rows[0]!;
      }),
    );

    const firsts = results.filter((r) => r.duplicate_of === null);
    expect(firsts).toHaveLength(1);
    expect(results.filter((r) => r.duplicate_of === firsts[0]!.run_id)).toHaveLength(RACERS - 1);
    const { rows } = await admin.query(
      `select status, count(*)::integer as n from public.scheduler_runs group by status order by status`,
    );
    expect(rows).toEqual([
      { status: 'running', n: 1 },
      { status: 'duplicate', n: RACERS - 1 },
    ]);
  });

  it('lets 8 simultaneous pg_cron ticks for one minute do the work once', async () => {
    const campaign = await createCampaign(admin, { name: 'always open', cap: 50 });
    await addContacts(admin, campaign, 20);

    const statuses = await Promise.all(
      racers.map(async (c) => {
        const { rows } = await c.query<{ r: { status: string } }>('select public.run_cron_tick($1) as r', [minutesAfterNoon(0)]);
        return rows[0]!.r.status;
      }),
    );

    expect(statuses.filter((s) => s === 'ok')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(RACERS - 1);
    const { rows } = await admin.query(
      `select (select count(*)::integer from public.calls) as calls,
              (select count(*)::integer from public.scheduler_runs) as runs,
              (select calls_reserved from public.scheduler_runs where status = 'ok') as reserved`,
    );
    expect(rows).toEqual([{ calls: 20, runs: RACERS, reserved: 20 }]);
  });

  it('starts one manual run when 8 manual triggers arrive within the rate-limit interval', async () => {
    const results = await Promise.all(
      racers.map(async (c, i) => {
        const { rows } = await c.query<{ run_id: string | null; retry_after_ms: number | null }>(
          `select run_id::text, retry_after_ms from public.start_scheduler_run('manual', null, '{}', $1)`,
          [new Date(minutesAfterNoon(0).getTime() + i * 100)],
        );
        return rows[0]!;
      }),
    );

    expect(results.filter((r) => r.run_id !== null)).toHaveLength(1);
    expect(results.filter((r) => r.run_id === null && (r.retry_after_ms ?? 0) > 0)).toHaveLength(RACERS - 1);
    const { rows } = await admin.query(`select count(*)::integer as n from public.scheduler_runs where trigger = 'manual'`);
    expect(rows).toEqual([{ n: 1 }]);
  });
});
