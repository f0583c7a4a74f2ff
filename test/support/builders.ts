// Builders of test data, through the `tests` SQL schema (supabase/tests/_fixtures/tests_schema.psql)
// so that pgTAP and vitest build campaigns and contacts the same way. Ids are text, as pg returns
// bigint (and as the functions' JSON answers and logs carry them).
//
// The TS defaults differ from tests.create_campaign()'s (which are the product's) where the vitest
// suites rely on it: a campaign here may dial at any hour of any day ('00:00'-'24:00': no gap at
// midnight), retries after '1 hour' without backoff, and contacts are due since 2026-01-01 (the
// suites on the wall clock need them due now).

import type { Queryable } from './db.ts';

/** The caller id of test campaigns (tests.create_campaign's default). */
export const CALLER_ID = '+15559990000';

/** The call action of test campaigns (tests.create_campaign's default): exactly one of twiml / url / application_sid. */
export const TWIML = { twiml: '<Response><Say>Hello from the test suite</Say></Response>' };

/** Every ISO weekday, Monday (1) to Sunday (7). */
export const EVERY_DAY = [1, 2, 3, 4, 5, 6, 7];

/** When contacts added here become due: long before any clock the suites use. */
export const DUE_SINCE = new Date('2026-01-01T00:00:00Z');

export type CampaignStatus = 'QUEUED' | 'RUNNING' | 'PAUSED' | 'COMPLETED' | 'CANCELLED';

export interface CampaignSpec {
  name?: string;
  cap?: number;
  status?: CampaignStatus;
  /** null: no caller id (a set-up problem). */
  callerId?: string | null;
  timeZone?: string;
  windowStart?: string;
  windowEnd?: string;
  windowDays?: number[];
  maxAttempts?: number;
  /** Every outcome's retry delay (busy, no answer, machine, failed). */
  retryDelay?: string;
  priority?: number;
  providerSettings?: Record<string, unknown>;
}

/** Creates a campaign with tests.create_campaign(); by default it may dial at any hour of any day. Returns its id. */
export async function createCampaign(db: Queryable, spec: CampaignSpec = {}): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `select tests.create_campaign(
              name => $1, cap => $2, status => $3::public.campaign_status, caller_id => $4, time_zone => $5,
              window_start => $6::time, window_end => $7::time, window_days => $8::smallint[], max_attempts => $9,
              retry_delay => $10::interval, priority => $11, provider_settings => $12::jsonb
            )::text as id`,
    [
      spec.name ?? 'campaign',
      spec.cap ?? 5,
      spec.status ?? 'QUEUED',
      spec.callerId === undefined ? CALLER_ID : spec.callerId,
      spec.timeZone ?? 'UTC',
      spec.windowStart ?? '00:00',
      spec.windowEnd ?? '24:00',
      spec.windowDays ?? EVERY_DAY,
      spec.maxAttempts ?? 3,
      spec.retryDelay ?? '1 hour',
      spec.priority ?? 0,
      JSON.stringify(spec.providerSettings ?? TWIML),
    ],
  );
  return rows[0]!.id;
}

let phoneCounter = 0;

/**
 * n fresh E.164 numbers (+1444NNNNNNN), unique within the process. tests.add_contacts() numbers
 * its own from a sequence as +1555NNNNNNN, so the two never meet.
 */
export function freshPhones(n: number): string[] {
  return Array.from({ length: n }, () => {
    phoneCounter += 1;
    return `+1444${String(phoneCounter).padStart(7, '0')}`;
  });
}

/**
 * Adds contacts to a campaign, due since DUE_SINCE: `contacts` is how many (tests.add_contacts()
 * numbers them) or their phone numbers (tests.add_contact() each). `timeZone`: one zone for all, or
 * with phone numbers one per contact (null: the campaign's). Returns their ids in order.
 */
export async function addContacts(
  db: Queryable,
  campaignId: string,
  contacts: number | readonly string[],
  opts: { timeZone?: string | null | ReadonlyArray<string | null> } = {},
): Promise<string[]> {
  const zone = opts.timeZone ?? null;
  if (typeof contacts === 'number') {
    if (contacts === 0) return [];
    if (typeof zone === 'object' && zone !== null) {
      throw new Error('addContacts: one time zone per contact needs their phone numbers');
    }
    const { rows } = await db.query<{ id: string }>(
      `select a.id::text as id
         from tests.add_contacts(campaign_id => $1, how_many => $2, time_zone => $3, next_attempt_at => $4) with ordinality as a (id, n)
        order by a.n`,
      [campaignId, contacts, zone, DUE_SINCE],
    );
    return rows.map((r) => r.id);
  }
  if (contacts.length === 0) return [];
  const zones = contacts.map((_, i) => (typeof zone === 'object' && zone !== null ? (zone[i] ?? null) : zone));
  const { rows } = await db.query<{ id: string }>(
    `select tests.add_contact(campaign_id => $1, phone => u.p, time_zone => u.z, next_attempt_at => $4)::text as id
       from unnest($2::text[], $3::text[]) with ordinality as u (p, z, n)
      order by u.n`,
    [campaignId, contacts, zones, DUE_SINCE],
  );
  return rows.map((r) => r.id);
}
