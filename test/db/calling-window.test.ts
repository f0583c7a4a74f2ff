// Invariant 3, calling window (docs/ARCHITECTURE.md): a contact is never called outside its calling window in
// its own time zone. One campaign (window 09:00-17:00 Monday to Friday, campaign zone UTC) holds
// contacts in Tokyo, Paris and Los Angeles with their own zones, and one without a zone; at chosen
// UTC instants only the contacts whose local clock is inside the window are reserved. Then the same
// across daylight-saving changes, and at the moment of dialling.

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { closeClients, disableCronJobs, openClients, resetData } from '../support/db.ts';
import { claimQueuedCalls, launchDueCalls } from '../support/rows.ts';

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
});

afterAll(async () => {
  await closeClients([db]);
});

beforeEach(async () => {
  await resetData(db);
});

/** The zones (null: the campaign's) of the contacts that hold a call reserved at `at`. */
async function zonesReservedAt(at: Date): Promise<Array<string | null>> {
  const { rows } = await db.query<{ time_zone: string | null }>(
    `select ct.time_zone from public.calls cl join public.contacts ct on ct.id = cl.contact_id
      where cl.queued_at = $1 order by ct.time_zone nulls first`,
    [at],
  );
  return rows.map((r) => r.time_zone);
}

describe("reservation in each contact's own time zone", () => {
  const zones = ['Asia/Tokyo', 'Europe/Paris', 'America/Los_Angeles', null] as const;

  it.each([
    {
      at: '2026-12-02T00:30:00Z',
      reserved: ['America/Los_Angeles', 'Asia/Tokyo'],
      local: 'Wednesday 09:30 in Tokyo, 01:30 in Paris, Tuesday 16:30 in Los Angeles, 00:30 UTC',
    },
    {
      at: '2026-12-02T08:30:00Z',
      reserved: ['Europe/Paris'],
      local: '17:30 in Tokyo, 09:30 in Paris, 00:30 in Los Angeles, 08:30 UTC',
    },
    {
      at: '2026-12-02T12:00:00Z',
      reserved: [null, 'Europe/Paris'],
      local: '21:00 in Tokyo, 13:00 in Paris, 04:00 in Los Angeles, 12:00 UTC',
    },
    {
      at: '2026-12-02T17:30:00Z',
      reserved: ['America/Los_Angeles'],
      local: 'Thursday 02:30 in Tokyo, 18:30 in Paris, 09:30 in Los Angeles, 17:30 UTC',
    },
    {
      at: '2026-12-05T08:30:00Z',
      reserved: [],
      local: 'Saturday everywhere: 17:30 in Tokyo, 09:30 in Paris, 00:30 in Los Angeles',
    },
    {
      at: '2026-12-07T00:30:00Z',
      reserved: ['Asia/Tokyo'],
      local: 'Monday 09:30 in Tokyo, but still Sunday (16:30) in Los Angeles',
    },
  ])('at $at ($local) reserves exactly $reserved', async ({ at, reserved }) => {
    const campaignId = await createCampaign(db, {
      cap: 10,
      windowStart: '09:00',
      windowEnd: '17:00',
      windowDays: [1, 2, 3, 4, 5],
    });
    for (const zone of zones) await addContacts(db, campaignId, 1, { timeZone: zone });

    await launchDueCalls(db, new Date(at));

    expect(await zonesReservedAt(new Date(at))).toEqual([...reserved].sort((a, b) => (a ?? '').localeCompare(b ?? '')));
  });

  it('releases a reserved call whose window closed before it was dialled', async () => {
    const campaignId = await createCampaign(db, { windowStart: '09:00', windowEnd: '17:00', windowDays: [1, 2, 3, 4, 5] });
    const [paris] = await addContacts(db, campaignId, 1, { timeZone: 'Europe/Paris' });

    // Reserved at 16:55 in Paris; no dispatcher until 17:05 Paris time.
    await launchDueCalls(db, new Date('2026-12-02T15:55:00Z'));
    const claimed = await claimQueuedCalls(db, 10, new Date('2026-12-02T16:05:00Z'));

    expect(claimed.map((c) => [c.contact_id, c.release_reason])).toEqual([[paris, 'outside calling window']]);
    const { rows } = await db.query('select status, attempts from public.contacts where id = $1', [paris]);
    expect(rows).toEqual([{ status: 'pending', attempts: 0 }]);
  });
});

describe('reservation across daylight-saving changes', () => {
  // Window 09:00-17:00 every day. New York: EST (-05) -> EDT (-04) on 8 March 2026, back on
  // 1 November. London: GMT -> BST on 29 March 2026, back on 25 October.
  it.each([
    { at: '2026-03-07T13:30:00Z', reserved: ['Europe/London'], local: 'New York 08:30 EST, London 13:30 GMT' },
    {
      at: '2026-03-08T13:30:00Z',
      reserved: ['America/New_York', 'Europe/London'],
      local: 'New York 09:30 EDT, London 13:30 GMT',
    },
    { at: '2026-03-28T08:30:00Z', reserved: [], local: 'London 08:30 GMT, New York 04:30 EDT' },
    { at: '2026-03-29T08:30:00Z', reserved: ['Europe/London'], local: 'London 09:30 BST, New York 04:30 EDT' },
    { at: '2026-10-24T16:30:00Z', reserved: ['America/New_York'], local: 'London 17:30 BST, New York 12:30 EDT' },
    {
      at: '2026-10-25T16:30:00Z',
      reserved: ['America/New_York', 'Europe/London'],
      local: 'London 16:30 GMT, New York 12:30 EDT',
    },
    {
      at: '2026-10-31T13:30:00Z',
      reserved: ['America/New_York', 'Europe/London'],
      local: 'New York 09:30 EDT, London 13:30 GMT',
    },
    { at: '2026-11-01T13:30:00Z', reserved: ['Europe/London'], local: 'New York 08:30 EST, London 13:30 GMT' },
  ])('at $at ($local) reserves exactly $reserved', async ({ at, reserved }) => {
    const campaignId = await createCampaign(db, { cap: 10, windowStart: '09:00', windowEnd: '17:00' });
    await addContacts(db, campaignId, 1, { timeZone: 'America/New_York' });
    await addContacts(db, campaignId, 1, { timeZone: 'Europe/London' });

    await launchDueCalls(db, new Date(at));

    expect(await zonesReservedAt(new Date(at))).toEqual(reserved);
  });

  it.each([
    { night: 'spring forward, 7-8 March', from: '2026-03-07T22:00:00Z', firstCall: '2026-03-08T13:00:00Z' },
    { night: 'fall back, 31 October - 1 November', from: '2026-10-31T22:00:00Z', firstCall: '2026-11-01T14:00:00Z' },
  ])(
    'hourly ticks through the night of the $night first call New York at 09:00 local ($firstCall)',
    async ({ from, firstCall }) => {
      const campaignId = await createCampaign(db, { timeZone: 'America/New_York', windowStart: '09:00', windowEnd: '17:00' });
      await addContacts(db, campaignId, 1);

      let first: string | null = null;
      for (let hour = 0; hour < 20 && first === null; hour++) {
        const at = new Date(new Date(from).getTime() + hour * 3_600_000);
        const rows = await launchDueCalls(db, at);
        if (rows.some((r) => r.reserved > 0)) first = at.toISOString();
      }

      expect(first).toBe(new Date(firstCall).toISOString());
    },
  );
});
