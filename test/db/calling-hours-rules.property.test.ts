// Calling-hours rules against a model (fast-check): random sets of rules (prefixes that nest, hours
// on quarter hours, some wrapping midnight, some days, some holidays) and random instants around
// the 2026 DST changes, in zones with and without DST. calling_hours_allow() must agree with the
// model written here from the rules' definition (docs/CONFIGURATION.md, 20261128001150): every enabled rule whose
// prefix starts the number allows [start, end) local time on its days, not on its holidays; start >
// end wraps midnight and its hours after midnight belong to the day it opened. next_calling_time()
// must answer the first minute at which the window and the rules allow a call, also across DST
// changes (a start time inside the spring-forward gap, or twice in the fall-back hour).

import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefixZones } from '../../scripts/zones/build-prefix-zones.ts';
import { closeClients, disableCronJobs, openClients } from '../support/db.ts';

const SEED = Number(process.env.FC_SEED ?? 20261130);

let db: pg.Client;

beforeAll(async () => {
  db = (await openClients(1))[0]!;
  await disableCronJobs(db);
});

afterAll(async () => {
  await closeClients([db]);
});

interface Rule {
  prefix: string;
  start: string;
  end: string;
  days: number[];
  holidays: string[];
  enabled: boolean;
}

const PHONES = ['+15552000001', '+15552000002', '+15559990001', '+442071838750'];
const PREFIXES = ['', '+1', '+1555', '+15552000001', '+44'];
/** Dates around the instants drawn below (US DST 8 Mar / 1 Nov, EU 29 Mar / 25 Oct 2026). */
const DATES = ['2026-03-07', '2026-03-08', '2026-03-09', '2026-03-28', '2026-03-29', '2026-10-24', '2026-10-25', '2026-11-01'];
const BASES = ['2026-03-06T12:00:00Z', '2026-03-27T12:00:00Z', '2026-10-23T12:00:00Z', '2026-10-30T12:00:00Z'];

const hhmm = (
  q: number,
) => (q === 96 ? '24:00' : `${String(Math.floor(q / 4)).padStart(2, '0')}:${String((q % 4) * 15).padStart(2, '0')}`);

const ruleArb: fc.Arbitrary<Rule> = fc
  .record({
    prefix: fc.constantFrom(...PREFIXES),
    start: fc.integer({ min: 0, max: 95 }),
    end: fc.integer({ min: 1, max: 96 }),
    days: fc.subarray([1, 2, 3, 4, 5, 6, 7], { minLength: 1 }),
    holidays: fc.subarray(DATES, { maxLength: 3 }),
    enabled: fc.constantFrom(true, true, true, true, false),
  })
  .filter((r) => r.start !== r.end % 96 || r.end === 96)
  .map((r) => ({ ...r, start: hhmm(r.start), end: hhmm(r.end) }));

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local date (YYYY-MM-DD), seconds since midnight and ISO weekday of an instant in a zone. */
function local(at: Date, timeZone: string): { date: string; seconds: number; isoDay: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return {
    date: `${p.year}-${p.month}-${p.day}`,
    seconds: Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second),
    isoDay: WEEKDAYS[p.weekday ?? ''] ?? 0,
  };
}

const seconds = (t: string) => Number(t.slice(0, 2)) * 3600 + Number(t.slice(3, 5)) * 60;
const dayBefore = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

/** The rules' definition, in TypeScript. */
function modelAllows(rules: Rule[], at: Date, zone: string, phone: string): boolean {
  const l = local(at, zone);
  return rules.filter((r) => r.enabled && phone.startsWith(r.prefix)).every((r) => {
    const s = seconds(r.start);
    const e = seconds(r.end);
    const onDay = (isoDay: number, date: string) => r.days.includes(isoDay) && !r.holidays.includes(date);
    if (s < e) return l.seconds >= s && l.seconds < e && onDay(l.isoDay, l.date);
    return (l.seconds >= s && onDay(l.isoDay, l.date)) ||
      (l.seconds < e && onDay(l.isoDay === 1 ? 7 : l.isoDay - 1, dayBefore(l.date)));
  });
}

/** A campaign window (the same definition without prefixes and holidays). */
function modelWindow(w: { start: string; end: string; days: number[] }, at: Date, zone: string): boolean {
  return modelAllows([{ prefix: '', holidays: [], enabled: true, ...w }], at, zone, '+1');
}

async function withRules<T>(rules: Rule[], f: () => Promise<T>): Promise<T> {
  await db.query('begin');
  try {
    await db.query('delete from public.calling_hours_rules');
    for (const r of rules) {
      await db.query(
        `insert into public.calling_hours_rules (prefix, start_time, end_time, days, holidays, enabled)
         values ($1, $2::time, $3::time, $4::smallint[], $5::date[], $6)`,
        [r.prefix, r.start, r.end, r.days, r.holidays, r.enabled],
      );
    }
    return await f();
  } finally {
    await db.query('rollback');
  }
}

describe('calling-hours rules agree with their definition', () => {
  it('calling_hours_allow() at random instants, zones and numbers, around DST changes', async () => {
    const caseArb = fc.record({
      rules: fc.array(ruleArb, { minLength: 1, maxLength: 4 }),
      probes: fc.array(
        fc.record({
          base: fc.constantFrom(...BASES),
          minutes: fc.integer({ min: 0, max: 4 * 24 * 60 }),
          zone: fc.constantFrom('UTC', 'America/New_York', 'Europe/Paris', 'Asia/Tokyo', 'America/Los_Angeles'),
          phone: fc.constantFrom(...PHONES),
        }),
        { minLength: 20, maxLength: 20 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ rules, probes }) => {
        const ats = probes.map((p) => new Date(Date.parse(p.base) + p.minutes * 60_000));
        const got = await withRules(rules, async () => {
          const { rows } = await db.query<{ ok: boolean }>(
            `select public.calling_hours_allow(p.at, p.zone, p.phone) as ok
               from unnest($1::timestamptz[], $2::text[], $3::text[]) with ordinality as p (at, zone, phone, n) order by p.n`,
            [ats, probes.map((p) => p.zone), probes.map((p) => p.phone)],
          );
          return rows.map((r) => r.ok);
        });
        const want = probes.map((p, i) => modelAllows(rules, ats[i]!, p.zone, p.phone));
        expect(got).toEqual(want);
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('next_calling_time() is the first minute at which the window and the rules allow a call', async () => {
    const windowArb = fc
      .record({ start: fc.integer({ min: 0, max: 95 }), length: fc.integer({ min: 1, max: 96 }) })
      .map(({ start, length }) => ({ start: hhmm(start), end: hhmm(start + length === 96 ? 96 : (start + length) % 96) }));
    const caseArb = fc.record({
      rules: fc.array(ruleArb, { maxLength: 3 }),
      window: windowArb,
      days: fc.subarray([1, 2, 3, 4, 5, 6, 7], { minLength: 1 }),
      base: fc.constantFrom(...BASES),
      minutes: fc.integer({ min: 0, max: 4 * 24 * 60 }),
      seconds: fc.integer({ min: 0, max: 59 }),
      zone: fc.constantFrom('UTC', 'Asia/Kolkata', 'America/New_York', 'Europe/Paris', 'America/Los_Angeles'),
      phone: fc.constantFrom(...PHONES),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const now = new Date(Date.parse(c.base) + c.minutes * 60_000 + c.seconds * 1000);
        const w = { ...c.window, days: c.days };
        const got = await withRules(c.rules, async () => {
          const { rows } = await db.query<{ t: Date | null }>(
            'select public.next_calling_time($1, $2, $3::time, $4::time, $5::smallint[], $6) as t',
            [now, c.zone, w.start, w.end, w.days, c.phone],
          );
          return rows[0]!.t;
        });
        const open = (at: Date) => modelWindow(w, at, c.zone) && modelAllows(c.rules, at, c.zone, c.phone);
        let want: Date | null = null;
        if (open(now)) want = now;
        else {
          // Every period opens on a quarter hour: the first open minute after now, within 15 days.
          const first = Math.ceil(now.getTime() / 60_000) * 60_000;
          for (let t = first; t <= now.getTime() + 15 * 86_400_000; t += 60_000) {
            if (open(new Date(t))) {
              want = new Date(t);
              break;
            }
          }
        }
        expect(got?.toISOString() ?? null).toBe(want?.toISOString() ?? null);
      }),
      { seed: SEED, numRuns: 120 },
    );
  });
});

// ------------------------------------------------------------------------------------------------
// The called party's zones: launch_due_calls() and claim_queued_calls() check the rules in every
// zone of the number (phone_prefix_zones, longest prefix), narrowed by a typed zone that is one of
// them, widened by one that is not, the campaign's zone for a number without zone data. The model
// reads the same data from the package it is generated from (scripts/zones/build-prefix-zones.ts).

const PREFIX_ZONES = new Map(prefixZones().rows);

/** The number's zones by its longest listed prefix (null: no zone data). */
function numberZones(phone: string): string[] | null {
  for (let n = phone.length; n >= 2; n--) {
    const zones = PREFIX_ZONES.get(phone.slice(0, n));
    if (zones) return zones;
  }
  return null;
}

/** The typed-zone policy of public.calling_hours_zones(). */
function ruleZones(phone: string, typed: string | null, campaignZone: string): string[] {
  const zones = numberZones(phone);
  if (!zones) return [typed ?? campaignZone];
  if (typed === null) return zones;
  return zones.includes(typed) ? [typed] : [...zones, typed];
}

/** Numbers of one zone, of two (+1605), of a whole country (+1555: no area code, +61 5), none (+999). */
const ZONED_PHONES = [
  '+14155550101',
  '+12125550102',
  '+16055550103',
  '+16055550104',
  '+442071838750',
  '+61500000001',
  '+15552000001',
  '+79161234567',
  '+99912345678',
];
const TYPED_ZONES = ['America/Los_Angeles', 'America/Denver', 'America/North_Dakota/Center', 'Europe/London', 'Asia/Tokyo'];

const zonedRuleArb: fc.Arbitrary<Rule> = ruleArb.chain((r) =>
  fc.constantFrom('', '', '+1', '+1415', '+1605', '+44', '+6', '+999').map((prefix) => ({ ...r, prefix }))
);

describe('calling-hours rules hold in every zone of the called party', () => {
  it('launch_due_calls() reserves, and claim_queued_calls() dials, only numbers every rule allows in each of their zones', async () => {
    const caseArb = fc.record({
      rules: fc.array(zonedRuleArb, { minLength: 1, maxLength: 3 }),
      campaignZone: fc.constantFrom('UTC', 'Europe/London', 'America/New_York', 'Asia/Kolkata'),
      contacts: fc.uniqueArray(
        fc.record({
          phone: fc.constantFrom(...ZONED_PHONES),
          typed: fc.option(fc.constantFrom(...TYPED_ZONES), { nil: null, freq: 2 }),
        }),
        { minLength: 1, maxLength: ZONED_PHONES.length, selector: (c) => c.phone },
      ),
      base: fc.constantFrom(...BASES),
      minutes: fc.integer({ min: 0, max: 4 * 24 * 60 }),
      claimAfter: fc.integer({ min: 0, max: 12 * 60 }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const at = new Date(Date.parse(c.base) + c.minutes * 60_000);
        const claimAt = new Date(at.getTime() + c.claimAfter * 60_000);
        const got = await withRules(c.rules, async () => {
          // A clean slate inside the transaction withRules() rolls back; an unthrottled account.
          await db.query('truncate public.calls, public.contacts, public.campaigns, public.provider_circuit_breakers cascade');
          await db.query(`update public.scheduler_settings
                             set global_max_concurrent_calls = 1000, max_calls_per_number_per_day = null,
                                 queued_call_ttl = interval '1 day', rate_margin_ms = 0`);
          await db.query(`update public.provider_accounts
                             set calls_per_second = 10000, max_concurrent_calls = null, next_send_at = '-infinity'`);
          const { rows: [campaign] } = await db.query<{ id: string }>(
            `select tests.create_campaign(cap => 50, time_zone => $1, window_start => '00:00', window_end => '24:00',
                                          window_days => '{1,2,3,4,5,6,7}')::text as id`,
            [c.campaignZone],
          );
          await db.query(
            `insert into public.contacts (campaign_id, phone, time_zone, next_attempt_at)
             select $1::bigint, p.phone, p.zone, $4::timestamptz - interval '1 hour'
               from unnest($2::text[], $3::text[]) as p (phone, zone)`,
            [campaign!.id, c.contacts.map((x) => x.phone), c.contacts.map((x) => x.typed), at],
          );
          await db.query('select * from public.launch_due_calls($1)', [at]);
          const { rows: reserved } = await db.query<{ phone: string }>('select to_phone as phone from public.calls');
          const { rows: violations } = await db.query('select * from tests.invariant_violations($1)', [at]);
          const { rows: claimed } = await db.query<{ phone: string; release_reason: string | null }>(
            'select to_phone as phone, release_reason from public.claim_queued_calls(100, null, $1)',
            [claimAt],
          );
          return { reserved: reserved.map((r) => r.phone).sort(), violations, claimed };
        });
        const allowed = (when: Date, x: { phone: string; typed: string | null }) =>
          ruleZones(x.phone, x.typed, c.campaignZone).every((zone) => modelAllows(c.rules, when, zone, x.phone));
        expect(got.reserved).toEqual(c.contacts.filter((x) => allowed(at, x)).map((x) => x.phone).sort());
        expect(got.violations).toEqual([]);
        for (const call of got.claimed) {
          const contact = c.contacts.find((x) => x.phone === call.phone)!;
          expect(call.release_reason, `${call.phone} claimed at ${claimAt.toISOString()}`).toBe(
            allowed(claimAt, contact) ? null : 'outside calling hours',
          );
        }
        expect(got.claimed.length).toBe(got.reserved.length);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
