// Invariant 4 at the edges of the provider protocol: a callback can arrive before the answer to the
// create-call request (Twilio does not order them), so the database must keep what the callback
// proved, and never send a call again once the provider has shown it has it.

import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign } from '../support/builders.ts';
import { WEDNESDAY_NOON } from '../support/clock.ts';
import { connect, disableCronJobs, resetData, UNTHROTTLED, updateSettings } from '../support/db.ts';
import { invariantViolations } from '../support/invariants.ts';

const T0 = WEDNESDAY_NOON;
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let db: pg.Client;

beforeAll(async () => {
  db = await connect();
  await disableCronJobs(db);
});

afterAll(async () => {
  await db?.end();
});

beforeEach(async () => {
  await resetData(db);
  await updateSettings(db, UNTHROTTLED);
  const campaign = await createCampaign(db, { cap: 1, maxAttempts: 3, retryDelay: '1 minute' });
  await addContacts(db, campaign, 1);
  await db.query('select * from public.launch_due_calls($1)', [T0]);
});

async function claim(now: Date): Promise<string[]> {
  const { rows } = await db.query<{ call_id: string; release_reason: string | null }>(
    'select call_id::text, release_reason from public.claim_queued_calls(10, null, $1)',
    [now],
  );
  return rows.filter((r) => r.release_reason === null).map((r) => r.call_id);
}

async function callback(callId: string, status: string, now: Date): Promise<string> {
  const { rows } = await db.query<{ r: string }>(
    `select public.apply_call_status($1, 'twilio', 'CA0123456789abcdef0123456789abcdef', $2, null, null, $3) as r`,
    [callId, status, now],
  );
  return rows[0]!.r;
}

async function answerRetryable(callId: string, now: Date): Promise<string> {
  const { rows } = await db.query<{ s: string }>(
    `select public.record_dispatch_result($1, 'retryable', p_reason => 'Twilio 20503: Service Unavailable',
                                          p_retry_at => $2, p_now => $2) as s`,
    [callId, now],
  );
  return rows[0]!.s;
}

describe('a callback that arrives before the create-call answer', () => {
  it('ringing, then a 503 answer: the call stays ringing and is never claimed again', async () => {
    const [callId] = await claim(at(0));
    expect(await callback(callId!, 'ringing', at(1))).toBe('applied');
    expect(await answerRetryable(callId!, at(2))).toBe('ringing');
    expect(await claim(at(3))).toEqual([]);
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('a requeued call the provider turns out to know (late callback) counts as an attempt and leaves the queue', async () => {
    const [callId] = await claim(at(0));
    expect(await answerRetryable(callId!, at(1))).toBe('queued');
    expect(await callback(callId!, 'ringing', at(2))).toBe('applied');
    expect(await claim(at(3))).toEqual([]);
    const { rows } = await db.query('select attempts from public.contacts');
    expect(rows).toEqual([{ attempts: 1 }]);
  });

  // Found by this suite: the 'initiated' callback maps to 'dialing', the status the call already
  // has, so apply_call_status() ignores it but stores the provider's call id: proof that the
  // provider created the call. A 429/503 answer that then arrives (a proxy's 503 after the request
  // went through) used to put the call back in the queue, and the next claim sent it again: the
  // person was dialled twice. Now a call with a provider call id is never requeued (unknown).
  it('initiated, then a 503 answer: the call must not go back to the queue (double dial)', async () => {
    const [callId] = await claim(at(0));
    expect(await callback(callId!, 'dialing', at(1))).toBe('ignored');
    const { rows } = await db.query<{ provider_call_id: string | null }>('select provider_call_id from public.calls');
    expect(rows[0]!.provider_call_id).not.toBeNull(); // the provider has this call

    expect(await answerRetryable(callId!, at(2))).not.toBe('queued');
    expect(await claim(at(3)), 'the same call claimed for dialling a second time').toEqual([]);
  });
});
