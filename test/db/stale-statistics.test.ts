// The reservation's plan when the statistics are stale: a campaign's contacts all done and
// analysed, then a large import, then the next tick before autovacuum has analysed again (the
// usual order of things for an operator). The planner then believes almost no contact is
// pending; launch_due_calls() must still lock each picked contact by primary key, not walk the
// partial contacts_pending_idx once per picked row (that took 276 s for 50,000 reservations).
// The plan is read from auto_explain (nested statements), not timed: times are noisy here.

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { closeClients, disableCronJobs, openClients, resetData, updateSettings } from '../support/db.ts';

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
  await resetData(db);
});

afterAll(async () => {
  await resetData(db);
  await closeClients([db]);
});

describe('launch_due_calls() under stale statistics', () => {
  it('locks the picked contacts by primary key, one probe each', async () => {
    await updateSettings(db, { global_max_concurrent_calls: 5000 });
    // Statistics that say every contact is done.
    const old = await createCampaign(db, { cap: 5 });
    await addContacts(db, old, 200);
    await db.query(`update public.contacts set status = 'done'`);
    await db.query('analyze public.contacts');
    await db.query('analyze public.calls');
    await db.query('analyze public.campaigns');
    // Then a large import the statistics know nothing about.
    const fresh = await createCampaign(db, { cap: 2000 });
    await addContacts(db, fresh, 2000);

    const plans: string[] = [];
    const onNotice = (n: { message?: string }) => {
      if (n.message?.includes('CTE locked')) plans.push(n.message);
    };
    db.on('notice', onNotice);
    try {
      await db.query('begin');
      await db.query(`load 'auto_explain'`);
      await db.query(`set local auto_explain.log_min_duration = 0`);
      await db.query(`set local auto_explain.log_nested_statements = on`);
      await db.query(`set local auto_explain.log_level = notice`);
      const { rows } = await db.query<{ n: string }>(
        'select coalesce(sum(reserved), 0)::text as n from public.launch_due_calls(now())',
      );
      await db.query('commit');
      expect(rows[0]!.n).toBe('2000');
    } finally {
      db.off('notice', onNotice);
    }

    expect(plans).toHaveLength(1);
    const plan = plans[0]!;
    const locked = plan.slice(plan.indexOf('CTE locked'), plan.indexOf('CTE inserted'));
    // The contacts row of each picked contact comes from the primary key.
    expect(locked).toMatch(/Index Scan using contacts_pkey on contacts ct\b|Hash Join/);
    expect(locked).not.toMatch(/contacts_pending_idx on contacts ct\b/);
  });
});
