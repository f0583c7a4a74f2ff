// Provider accounts end to end (the real gateway, the database through the pooler, the Twilio
// simulator with a subaccount): a campaign dials through its account, a subaccount's calls are
// created under /Accounts/{subaccount}/Calls.json with the main credentials and their callbacks,
// signed with the subaccount's own token, are verified with it; caps nest campaign <= account <=
// global; each account has its own rate bucket and its own circuit breaker.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { addContacts, createCampaign, freshPhones } from '../support/builders.ts';
import { waitFor } from '../support/clock.ts';
import { newPool, resetData, updateSettings } from '../support/db.ts';
import {
  ALL_COMPLETED,
  functionsEnv,
  type Gateway,
  postSignedCallback,
  postTick,
  randomSecret,
  startGateway,
  startSim,
  type TwilioSimulator,
} from '../support/functions.ts';
import { dialledTwice, invariantViolations } from '../support/invariants.ts';
import { breakerRow, runRow } from '../support/rows.ts';

const SECRET = randomSecret();
const SUB_SID = `AC${randomBytes(16).toString('hex')}`;
const SUB_TOKEN = randomBytes(16).toString('hex');
const SUB_CALLER = '+15559990077';
/** A second subaccount, whose token must not move the first one's calls. */
const OTHER_SID = `AC${randomBytes(16).toString('hex')}`;
const OTHER_TOKEN = randomBytes(16).toString('hex');

let pool: pg.Pool;
let sim: TwilioSimulator;
let gw: Gateway;

beforeAll(async () => {
  pool = newPool(6);
  sim = await startSim({
    timeScale: 0.02,
    outcomes: ALL_COMPLETED,
    subaccounts: { [SUB_SID]: SUB_TOKEN, [OTHER_SID]: OTHER_TOKEN },
  });
  gw = await startGateway(
    functionsEnv(sim, {
      CRON_SECRET: SECRET,
      TWILIO_SUBACCOUNT_AUTH_TOKENS: JSON.stringify({ [SUB_SID]: SUB_TOKEN, [OTHER_SID]: OTHER_TOKEN }),
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  await sim?.close();
  await pool?.end();
});

beforeEach(async () => {
  sim.reset();
  await resetData(pool);
  await updateSettings(pool, { provider_calls_per_second: 1000, rate_margin_ms: 500, tick_budget_ms: 4000 });
  await pool.query(
    `insert into public.provider_accounts (id, account_sid, max_concurrent_calls) values ('sub', $1, 3), ('other', $2, 3)`,
    [SUB_SID, OTHER_SID],
  );
});

async function campaignOn(
  account: string,
  cap: number,
  contacts: number,
  callerId?: string,
): Promise<{ id: string; phones: string[] }> {
  const id = await createCampaign(pool, { cap, maxAttempts: 1, ...(callerId ? { callerId } : {}) });
  await pool.query('update public.campaigns set provider_account = $2 where id = $1', [id, account]);
  const phones = freshPhones(contacts);
  await addContacts(pool, id, phones);
  return { id, phones };
}

describe('provider accounts', () => {
  it('a subaccount campaign dials under the subaccount; its callbacks verify with its token; the account cap binds', async () => {
    const main = await campaignOn('default', 5, 5);
    const sub = await campaignOn('sub', 10, 8, SUB_CALLER);

    const a = await postTick(gw, SECRET);
    expect(a.json).toMatchObject({ status: 'ok' });
    // Campaign cap 10, account cap 3: three calls of the subaccount campaign at once, at most.
    const { rows } = await pool.query<{ n: number }>(
      `select count(*)::int as n from public.calls where campaign_id = $1`,
      [sub.id],
    );
    expect(rows[0]!.n).toBe(3);
    const calls = sim.calls();
    expect(calls.filter((c) => c.accountSid === SUB_SID).map((c) => c.to).sort()).toEqual(
      calls.filter((c) => sub.phones.includes(c.to)).map((c) => c.to).sort(),
    );
    expect(calls.filter((c) => main.phones.includes(c.to)).every((c) => c.accountSid === sim.accountSid)).toBe(true);

    // The subaccount's signed callbacks were accepted: its three calls end completed.
    await waitFor('the subaccount calls completed', async () => {
      const r = await pool.query<{ n: number }>(
        `select count(*)::int as n from public.calls where campaign_id = $1 and status = 'completed'`,
        [sub.id],
      );
      return r.rows[0]!.n === 3;
    });
    expect(dialledTwice(sim)).toEqual([]);
    expect(await invariantViolations(pool)).toEqual([]);
  });

  it('a callback for a subaccount call signed with the main token is refused', async () => {
    const sub = await campaignOn('sub', 1, 1, SUB_CALLER);
    sim.setFaults({ dropCallbackRate: 1 });
    await postTick(gw, SECRET);
    const { rows } = await pool.query<{ id: string; provider_call_id: string }>(
      `select id::text, provider_call_id from public.calls where campaign_id = $1`,
      [sub.id],
    );
    const call = rows[0]!;
    const params = { AccountSid: SUB_SID, CallSid: call.provider_call_id, CallStatus: 'completed', CallDuration: '3' };
    const forged = await postSignedCallback(gw, sim.authToken, `?call_id=${call.id}`, params);
    expect(forged.status).toBe(403);
    const real = await postSignedCallback(gw, SUB_TOKEN, `?call_id=${call.id}`, params);
    expect(real.status).toBe(200);
  });

  it("one subaccount's token cannot move another account's calls: refused, counted, nothing changes; the owner's callback still applies", async () => {
    const sub = await campaignOn('sub', 1, 1, SUB_CALLER);
    const main = await campaignOn('default', 1, 1);
    sim.setFaults({ dropCallbackRate: 1 });
    await postTick(gw, SECRET);
    const callOf = async (campaign: string) =>
      (await pool.query<{ id: string; provider_call_id: string; status: string; ended_at: Date | null }>(
        `select id::text, provider_call_id, status, ended_at from public.calls where campaign_id = $1`,
        [campaign],
      )).rows[0]!;
    const subCall = await callOf(sub.id);
    const mainCall = await callOf(main.id);
    const contactsBefore = (await pool.query('select * from public.contacts order by id')).rows;
    const mark = gw.logs.length;

    // The other subaccount's token, its own AccountSid (so the signature is valid), our call id of
    // the first subaccount's call; then by the provider's call id alone; then a main-account call.
    const forgeries: Array<[string, string]> = [
      [`?call_id=${subCall.id}`, subCall.provider_call_id],
      ['', subCall.provider_call_id],
      [`?call_id=${mainCall.id}`, mainCall.provider_call_id],
    ];
    for (const [query, callSid] of forgeries) {
      const params = { AccountSid: OTHER_SID, CallSid: callSid, CallStatus: 'completed', CallDuration: '3' };
      const a = await postSignedCallback(gw, OTHER_TOKEN, query, params);
      expect(a.status, query).toBe(403);
      expect(a.json).toEqual({ error: 'wrong_account' });
    }
    // The first subaccount's token for a main-account call: refused too.
    const mainParams = { AccountSid: SUB_SID, CallSid: mainCall.provider_call_id, CallStatus: 'completed' };
    expect((await postSignedCallback(gw, SUB_TOKEN, `?call_id=${mainCall.id}`, mainParams)).status).toBe(403);

    // Nothing changed; each refusal was logged and counted against its source.
    expect(await callOf(sub.id)).toEqual(subCall);
    expect(await callOf(main.id)).toEqual(mainCall);
    expect((await pool.query('select * from public.contacts order by id')).rows).toEqual(contactsBefore);
    expect(gw.logs.slice(mark).filter((l) => l.includes('"callback_wrong_account"'))).toHaveLength(4);
    const counted = await pool.query<{ failures: number; last_function: string }>(
      'select failures, last_function from public.auth_failures',
    );
    expect(counted.rows).toEqual([{ failures: 4, last_function: 'call-status' }]);

    // The owners' own callbacks still apply.
    const own = await postSignedCallback(gw, SUB_TOKEN, `?call_id=${subCall.id}`, {
      AccountSid: SUB_SID,
      CallSid: subCall.provider_call_id,
      CallStatus: 'completed',
      CallDuration: '3',
    });
    expect(own.json).toEqual({ result: 'applied' });
    const mainOwn = await postSignedCallback(gw, sim.authToken, `?call_id=${mainCall.id}`, {
      AccountSid: sim.accountSid,
      CallSid: mainCall.provider_call_id,
      CallStatus: 'completed',
    });
    expect(mainOwn.json).toEqual({ result: 'applied' });
    expect((await callOf(sub.id)).status).toBe('completed');
    expect((await callOf(main.id)).status).toBe('completed');
  });

  it('each account has its own breaker: failures of the subaccount stop its calls, the main account goes on', async () => {
    // One request at a time: the breaker opens after the second failure, before the rest is sent.
    await updateSettings(pool, { breaker_failure_threshold: 2, dispatch_concurrency: 1 });
    await pool.query(`update public.provider_accounts set max_concurrent_calls = 6 where id = 'sub'`);
    sim.setFaults({
      numbers: [{ match: SUB_CALLER, field: 'From', reject: { status: 500, code: 20500, message: 'Internal Server Error' } }],
    });
    const main = await campaignOn('default', 5, 5);
    await campaignOn('sub', 6, 6, SUB_CALLER);

    const a = await postTick(gw, SECRET);
    const body = a.json as { run_id: string; breaker: string; errors: Array<{ stage: string; message: string }> };
    expect(body.breaker).toBe('open');
    expect(body.errors).toContainEqual(
      expect.objectContaining({ stage: 'breaker', message: expect.stringMatching(/account sub opened/) }),
    );
    expect(await breakerRow(pool, 'sub')).toMatchObject({ state: 'open' });
    expect((await breakerRow(pool, 'default'))?.state ?? 'closed').toBe('closed');
    // The main account's campaign was dialled in full.
    expect(sim.calls().filter((c) => main.phones.includes(c.to))).toHaveLength(5);
    const run = await runRow(pool, body.run_id);
    expect(run.calls_launched).toBeGreaterThanOrEqual(5);
    // A second tick sends nothing for the open account, and says so once.
    const before = sim.stats().createRequests;
    const b = await postTick(gw, SECRET);
    expect(sim.stats().createRequests).toBe(before);
    expect((b.json as { errors: unknown[] }).errors).toEqual([
      expect.objectContaining({
        stage: 'dispatch',
        message: expect.stringMatching(/circuit breaker for account sub is open until .*: \d+ queued calls wait/),
      }),
    ]);
  });
});
