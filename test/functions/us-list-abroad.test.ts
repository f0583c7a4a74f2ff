// A US list without zones, imported into a European campaign: the law's hours hold where each person
// lives. Six numbers from New York, Chicago, Denver, Los Angeles, Anchorage and Honolulu, imported
// over the admin API from a CSV without a time_zone column into a campaign whose zone is
// Europe/London (open 09:00-20:00 there). Ticks run under Node against the real database and the
// Twilio simulator, each at a stated clock (runTick's now): at 09:20 London on a Wednesday (between
// 23:20 and 04:20 where the six live) nobody is called; at 19:00 London (09:00-14:00 there) every one
// is called, once. The federal rule (08:00-21:00 in the called party's zones) is the only rule.

import { beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../supabase/functions/_shared/log.ts';
import { createPool } from '../../supabase/functions/_shared/pool.ts';
import { runTick } from '../../supabase/functions/_shared/tick.ts';
import { TwilioProvider } from '../../supabase/functions/_shared/twilio.ts';
import { createCampaign } from '../support/builders.ts';
import { FAST_SETTINGS, resetData, testDbUrl, updateSettings } from '../support/db.ts';
import { useFunctionsStack } from '../support/functions.ts';
import { dialledTwice } from '../support/invariants.ts';
import { request } from '../support/net.ts';

const silent: Logger = { log: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Real area codes, one per US zone; none of the rows says its zone. */
const LIST = [
  ['+12125550101', 'New York'],
  ['+13125550102', 'Chicago'],
  ['+13035550103', 'Denver'],
  ['+12135550104', 'Los Angeles'],
  ['+19075550105', 'Anchorage'],
  ['+18085550106', 'Honolulu'],
] as const;

const stack = useFunctionsStack({ sim: { seed: 3, callbacks: false } });

beforeEach(async () => {
  stack.sim.reset();
  await resetData(stack.db);
  await updateSettings(stack.db, { ...FAST_SETTINGS, background_dispatch_ms: 0 });
  // resetData empties the rules: the shipped federal rule, alone.
  await stack.db.query(
    `insert into public.calling_hours_rules (prefix, start_time, end_time, note)
     values ('', '08:00', '21:00', 'US federal rule (47 CFR 64.1200(c)(1))')`,
  );
});

/** One tick whose clock starts at `at` (and runs on from there). */
async function tickAt(at: string) {
  const start = Date.parse(at);
  const offset = start - Date.now();
  const pool = createPool(testDbUrl(), 5);
  try {
    return await runTick(
      {
        pool,
        provider: new TwilioProvider({
          accountSid: stack.sim.accountSid,
          authToken: stack.sim.authToken,
          baseUrl: stack.sim.url,
        }),
        log: silent,
        statusCallbackUrl: (id) => `http://127.0.0.1:9/functions/v1/call-status?call_id=${id}`,
        now: () => Date.now() + offset,
      },
      { trigger: 'local', budgetMs: 20_000 },
    );
  } finally {
    await pool.end();
  }
}

describe('a US list without zones in a European campaign', () => {
  it('is not called during the US night, and is called once each when the US morning comes', async () => {
    const campaign = await createCampaign(stack.db, {
      name: 'London desk',
      cap: 10,
      timeZone: 'Europe/London',
      windowStart: '09:00',
      windowEnd: '20:00',
    });
    const csv = 'phone,name\n' + LIST.map(([phone, city]) => `${phone},${city}`).join('\n') + '\n';
    const imported = await request(`${stack.gw.url}/scheduler-admin/campaigns/${campaign}/contacts?region=US`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.env.ADMIN_TOKEN}`, 'content-type': 'text/csv' },
      body: csv,
      signal: AbortSignal.timeout(60_000),
    });
    expect(imported.status).toBe(200);
    expect(imported.json).toMatchObject({ imported: 6 });
    const zones = await stack.db.query<{ phone: string; time_zone: string | null }>(
      'select phone, time_zone from public.contacts where campaign_id = $1 order by phone',
      [campaign],
    );
    expect(zones.rows.every((r) => r.time_zone === null)).toBe(true);

    // Wednesday 2026-12-09, 09:20 London: 04:20 New York ... 23:20 (Tuesday) Honolulu.
    const night = await tickAt('2026-12-09T09:20:00Z');
    expect(night).toMatchObject({ status: 'ok', reserved: 0, launched: 0 });
    expect(stack.sim.stats().createRequests).toBe(0);

    // 19:00 London: 14:00 New York, 13:00 Chicago, 12:00 Denver, 11:00 Los Angeles, 10:00 Anchorage,
    // 09:00 Honolulu.
    const morning = await tickAt('2026-12-09T19:00:00Z');
    expect(morning).toMatchObject({ reserved: 6, launched: 6 });
    expect(Object.keys(stack.sim.stats().createdPerNumber).sort()).toEqual(LIST.map(([phone]) => phone).sort());
    expect(dialledTwice(stack.sim)).toEqual([]);
  });
});
