// The invariants (docs/ARCHITECTURE.md) as the vitest suites check them: the one SQL checker
// (tests.invariant_violations(), supabase/tests/_fixtures/tests_schema.psql) plus what only a test
// knows (when campaigns were paused, when numbers were listed), and invariant 4 seen from the
// provider (the simulator's record of created calls).

import type { Queryable } from './db.ts';

/** A period during which a campaign (id) was paused, or a number (id: the phone) was on the do-not-call list. */
export interface Period {
  id: string;
  from: Date;
  until: Date | null;
}

export interface InvariantOptions {
  /** Also check that every call reserved at `now` is inside its contact's calling window then. */
  now?: Date;
  /** A run still 'running' is allowed (a tick may be in flight, or was killed); default false. */
  allowRunning?: boolean;
  /** Campaigns paused from..until: no call of theirs reserved or dialled meanwhile (invariant 3). */
  pauses?: Period[];
  /** Numbers listed from `from`: never reserved or dialled since (invariant 3). */
  listings?: Period[];
  /**
   * Every call a claim took (a call put back and claimed again is here twice): its campaign, the
   * clock the claim was given (`issued`, ms: the call's dialed_at) and when its answer came back
   * (`returned`). When given, "dialled while
   * paused" is judged by the claim's own interval, not by dialed_at alone: a claim's statement can
   * wait for a connection after its clock was read, and one that ran after a resume would carry a
   * time inside the pause. A claim is then a violation when it was issued after the pause had
   * committed and answered before the resume began: it ran, wholly, while the campaign was paused.
   */
  claims?: ClaimInterval[];
}

/** When the claim that took a call was issued and answered (ms since the epoch). */
export interface ClaimInterval {
  call: string;
  campaign: string;
  issued: number;
  returned: number;
}

/**
 * Invariants 1, 2, 3 and 5 (docs/ARCHITECTURE.md) on the committed state, one sentence per violation
 * ('<detail> (<invariant>)'); empty when all hold.
 */
export async function invariantViolations(db: Queryable, opts: InvariantOptions = {}): Promise<string[]> {
  const { rows: state } = await db.query<{ violation: string }>(
    `select format('%s (%s)', detail, invariant) as violation from tests.invariant_violations($1, $2)`,
    [opts.now ?? null, opts.allowRunning ?? false],
  );
  const pauses = opts.pauses ?? [];
  const listings = opts.listings ?? [];
  if (pauses.length === 0 && listings.length === 0) return state.map((r) => r.violation);
  const claims = opts.claims;
  const claimed: string[] = [];
  if (claims) {
    for (const c of claims) {
      for (const p of pauses) {
        if (p.id === c.campaign && c.issued >= p.from.getTime() && (p.until === null || c.returned < p.until.getTime())) {
          claimed.push(
            `call ${c.call} of campaign ${c.campaign} was claimed for dialling by a claim issued at ${
              new Date(c.issued).toISOString()
            } and answered at ${new Date(c.returned).toISOString()}, while the campaign was paused (${p.from.toISOString()} .. ${
              p.until?.toISOString() ?? 'still'
            })`,
          );
        }
      }
    }
  }
  // Invariant 3 over time: what the test knows about pauses and listings.
  const { rows } = await db.query<{ violation: string }>(
    `with pauses as (
       select * from unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) as p (campaign_id, from_at, until_at)
     ),
     listings as (
       select * from unnest($4::text[], $5::timestamptz[]) as l (phone, from_at)
     )
     -- 3. nothing reserved or dialled for a paused campaign while it was paused
     select format('call %s of campaign %s was %s at %s, while the campaign was paused (%s .. %s)',
                   cl.id, cl.campaign_id,
                   case when cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at)
                        then 'reserved' else 'dialled' end,
                   case when cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at)
                        then cl.queued_at else cl.dialed_at end,
                   p.from_at, p.until_at) as violation
       from public.calls cl join pauses p on p.campaign_id = cl.campaign_id
      where (cl.queued_at >= p.from_at and (p.until_at is null or cl.queued_at < p.until_at))
         or (not $6 and cl.dialed_at >= p.from_at and (p.until_at is null or cl.dialed_at < p.until_at))
     union all
     -- 3. nothing reserved or dialled for a listed number once listed
     select format('call %s to %s was reserved at %s / dialled at %s, after the number was listed at %s',
                   cl.id, cl.to_phone, cl.queued_at, cl.dialed_at, l.from_at)
       from public.calls cl join listings l on l.phone = cl.to_phone
      where cl.queued_at >= l.from_at or cl.dialed_at >= l.from_at
     order by 1`,
    [
      pauses.map((p) => p.id),
      pauses.map((p) => p.from),
      pauses.map((p) => p.until),
      listings.map((l) => l.id),
      listings.map((l) => l.from),
      claims !== undefined,
    ],
  );
  return [...state.map((r) => r.violation), ...rows.map((r) => r.violation), ...claimed];
}

// ---------------------------------------------------------------------------------------------
// Invariant 4 seen from the provider

/** Numbers the simulator created a call for more than once ('<phone> x<n>'; must always be empty). */
export function dialledTwice(sim: { stats(): { createdPerNumber: Record<string, number> } }): string[] {
  return Object.entries(sim.stats().createdPerNumber)
    .filter(([, n]) => n > 1)
    .map(([phone, n]) => `${phone} x${n}`);
}

/**
 * How many calls the simulator created for each of our call ids (the StatusCallback URL of every
 * created call carries `call_id=<our id>`).
 */
export function createdPerCall(calls: Array<{ statusCallback: string | null }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) {
    const id = c.statusCallback ? (new URL(c.statusCallback).searchParams.get('call_id') ?? 'none') : 'none';
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Numbers the provider created more calls for than the contact has counted attempts. */
export async function overDialledNumbers(db: Queryable, createdPerNumber: Record<string, number>): Promise<string[]> {
  const { rows } = await db.query<{ phone: string; attempts: number; dialled: string }>(
    `select ct.phone, ct.attempts, (select count(*) from public.calls cl where cl.contact_id = ct.id and cl.dialed_at is not null) as dialled
       from public.contacts ct`,
  );
  const out: string[] = [];
  for (const r of rows) {
    const created = createdPerNumber[r.phone] ?? 0;
    if (created > r.attempts || created > Number(r.dialled)) {
      out.push(
        `${r.phone}: created ${created} times at the provider, ${r.attempts} attempts counted, ${r.dialled} calls dialled`,
      );
    }
  }
  for (const phone of Object.keys(createdPerNumber)) {
    if (!rows.some((r) => r.phone === phone)) out.push(`${phone}: created at the provider but not one of our contacts`);
  }
  return out;
}
