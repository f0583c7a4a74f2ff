// Calls in doubt, settled by asking the provider, over real HTTP: the real Deno gateway's tick, the
// real database, and the Twilio simulator (its Calls API by SID and its calls list, with faults).
// A create-call answer that was lost, or a final callback that never came, leaves a call dialing or
// unknown; after provider_check_after a tick looks it up and settles it from the provider's answer,
// long before the reaper would have failed it and called the person again.

import { beforeEach, describe, expect, it } from 'vitest';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { FAST_SETTINGS, resetData, updateSettings } from '../support/db.ts';
import { ALL_COMPLETED, postTick, type TwilioSimulator, useFunctionsStack } from '../support/functions.ts';
import { dialledTwice } from '../support/invariants.ts';
import { callRows, contactRows, runRow } from '../support/rows.ts';

/**
 * Requests to the provider (creates, lookups) time out after this long: on a machine busy with
 * three suites an answer can take longer than the 250 ms a hanging request is given.
 */
const REQUEST_TIMEOUT_MS = 5000;
/** While a test leaves a call in doubt with a request that hangs, requests time out after this long. */
const HANG_TIMEOUT_MS = 250;

const stack = useFunctionsStack({
  sim: {
    timeScale: 1,
    outcomes: ALL_COMPLETED,
    timing: { initiatedMs: [50, 50], ringingMs: [20, 20], ringMs: [20, 20], talkMs: [60, 60] },
  },
});

beforeEach(async () => {
  stack.sim.reset();
  await resetData(stack.db);
  await updateSettings(stack.db, {
    ...FAST_SETTINGS,
    provider_request_timeout_ms: REQUEST_TIMEOUT_MS,
    background_dispatch_ms: 0,
  });
});

/** One contact dialled under `faults`, left in doubt: returns its call's and contact's ids. */
async function callLeftInDoubt(faults: Parameters<TwilioSimulator['setFaults']>[0], status: 'unknown' | 'dialing') {
  const campaign = await createCampaign(stack.db, { cap: 5, maxAttempts: 3 });
  const [phone] = freshPhones(1) as [string];
  await addContacts(stack.db, campaign, [phone]);
  stack.sim.setFaults(faults);
  if (faults.hangRate) await updateSettings(stack.db, { provider_request_timeout_ms: HANG_TIMEOUT_MS });
  const a = await postTick(stack.gw, stack.env.CRON_SECRET!);
  expect(a.status).toBe(200);
  const [call] = await callRows(stack.db);
  expect(call!.status).toBe(status);
  stack.sim.clearFaults();
  await updateSettings(stack.db, { provider_request_timeout_ms: REQUEST_TIMEOUT_MS });
  // The call has been in doubt for provider_check_after (2 minutes) and more: its dialled_at, moved back.
  await stack.db.query(`update public.calls set dialed_at = dialed_at - interval '3 minutes' where id = $1`, [call!.id]);
  return { campaign, phone, callId: call!.id };
}

describe('calls in doubt are looked up at the provider', () => {
  it('a create request that timed out, whose call the provider placed and the person answered: settled completed, not called again', async () => {
    const { campaign, phone, callId } = await callLeftInDoubt({ hangRate: 1, dropCallbackRate: 1 }, 'unknown');
    const placed = stack.sim.calls()[0]!;
    await waitFor('the simulated call to end', () => stack.sim.calls()[0]!.status === 'completed');

    const b = await postTick(stack.gw, stack.env.CRON_SECRET!);
    expect(b.status).toBe(200);
    const [call] = await callRows(stack.db);
    expect(call).toMatchObject({ id: callId, status: 'completed', provider_call_id: placed.sid });
    expect(await contactRows(stack.db, campaign)).toEqual([expect.objectContaining({ status: 'done', attempts: 1 })]);
    const run = await runRow(stack.db, b.json.run_id);
    expect(run.details).toMatchObject({ in_doubt: { looked_up: 1, found: 1, not_placed: 0, failed_lookups: 0 } });

    for (let i = 0; i < 2; i++) await postTick(stack.gw, stack.env.CRON_SECRET!);
    expect(stack.sim.stats().createdPerNumber[phone]).toBe(1);
    expect(dialledTwice(stack.sim)).toEqual([]);
  });

  it('a create request that timed out before the provider placed anything: failed at once, the contact called again once', async () => {
    const { campaign, phone, callId } = await callLeftInDoubt({ hangRate: 1, ambiguousCreates: false }, 'unknown');
    expect(stack.sim.stats().created).toBe(0);

    const b = await postTick(stack.gw, stack.env.CRON_SECRET!);
    const rows = await callRows(stack.db);
    expect(rows[0]).toMatchObject({ id: callId, status: 'failed' });
    expect(rows[0]!.error).toMatch(/^not placed: the provider has no call to this number/);
    const run = await runRow(stack.db, b.json.run_id);
    expect(run.details).toMatchObject({ in_doubt: { looked_up: 1, found: 0, not_placed: 1 } });

    // The contact is due again after its retry delay: the next ticks dial it, once.
    await stack.db.query(`update public.contacts set next_attempt_at = now() where campaign_id = $1`, [campaign]);
    await waitFor('the second attempt to be placed', async () => {
      await postTick(stack.gw, stack.env.CRON_SECRET!);
      return stack.sim.stats().createdPerNumber[phone] === 1;
    });
    expect(dialledTwice(stack.sim)).toEqual([]);
    expect((await callRows(stack.db)).map((c) => c.status)).toEqual([
      'failed',
      expect.stringMatching(/dialing|ringing|in_progress|completed/),
    ]);
  });

  it('an accepted call whose callbacks never came: looked up by its SID and settled', async () => {
    const { campaign, callId } = await callLeftInDoubt({ dropCallbackRate: 1 }, 'dialing');
    const placed = stack.sim.calls()[0]!;
    await waitFor('the simulated call to end', () => stack.sim.calls()[0]!.status === 'completed');
    const before = stack.sim.stats().fetchRequests;

    await postTick(stack.gw, stack.env.CRON_SECRET!);
    const [call] = await callRows(stack.db);
    expect(call).toMatchObject({ id: callId, status: 'completed', provider_call_id: placed.sid });
    expect(stack.sim.stats().fetchRequests).toBe(before + 1);
    expect(await contactRows(stack.db, campaign)).toEqual([expect.objectContaining({ status: 'done' })]);
  });

  it('a lookup that fails concludes nothing: the call stays in doubt, the run says why, and the next look settles it', async () => {
    const { callId } = await callLeftInDoubt({ hangRate: 1, dropCallbackRate: 1 }, 'unknown');
    await waitFor('the simulated call to end', () => stack.sim.calls()[0]!.status === 'completed');
    stack.sim.setFaults({ lookupFailRate: 1 });

    const b = await postTick(stack.gw, stack.env.CRON_SECRET!);
    expect(b.json.errors).toEqual([
      expect.objectContaining({ stage: 'provider_check', call_id: callId, message: expect.stringMatching(/HTTP 500/) }),
    ]);
    expect((await callRows(stack.db))[0]!.status).toBe('unknown');

    // Asked again once provider_check_after has passed since the failed look.
    stack.sim.clearFaults();
    await stack.db.query(
      `update public.calls set provider_checked_at = provider_checked_at - interval '3 minutes' where id = $1`,
      [
        callId,
      ],
    );
    await postTick(stack.gw, stack.env.CRON_SECRET!);
    expect((await callRows(stack.db))[0]!.status).toBe('completed');
    expect(stack.sim.stats().created).toBe(1);
  });
});
