// Conformance of the Vapi and Retell adapters, each against its part of the simulator over real
// HTTP on loopback (the same knobs as the Twilio part): every answer becomes the right outcome
// (accepted / retryable / permanent / unknown), the request carries whom it calls in the form the
// platform takes (Vapi metadata and variableValues, Retell metadata and dynamic variables), and the
// platform's events arrive authenticated as its docs say, verify, and parse into our statuses
// (busy, no answer, machine answers included). No database.

import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CreateCallRequest, StatusUpdate, TelephonyProvider } from '../supabase/functions/_shared/provider.ts';
import { parseVapiServerMessage, VapiProvider, verifyVapiServerSecret } from '../supabase/functions/_shared/providers/vapi.ts';
import { parseRetellEvent, RetellProvider, verifyRetellSignature } from '../supabase/functions/_shared/providers/retell.ts';
import { startTwilioSimulator, type TwilioSimulator } from '../scripts/twilio-sim/server.ts';
import type { PlatformOutcome, PlatformSimulator } from '../scripts/twilio-sim/platform.ts';
import { waitFor } from './support/clock.ts';
import { closedPort } from './support/net.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface PlatformUnderTest {
  part(sim: TwilioSimulator): PlatformSimulator;
  makeProvider(baseUrl: string, apiKey: string): TelephonyProvider;
  key(sim: TwilioSimulator): string;
  settings: Record<string, unknown>;
  /** Checks an event's authentication as call-status does. */
  verify(sim: TwilioSimulator, r: Received): Promise<boolean>;
  parse(body: unknown): StatusUpdate | null;
  /** The request the simulator received, as the platform names its fields. */
  sent(request: Record<string, unknown>): { callId: unknown; contactId: unknown; name: unknown; optOut: unknown };
  invalidNumberMessage: string;
}

const FROM = '+15005550006';
const fictional = (i: number) => `+1555555${String(100 + (i % 100)).padStart(4, '0')}`;

function describePlatform(name: string, put: PlatformUnderTest): void {
  describe(`provider conformance: ${name}`, () => {
    let sim: TwilioSimulator;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let provider: TelephonyProvider;
    let nextId = 5000;

    beforeAll(async () => {
      receiver = await startReceiver();
      sim = await startTwilioSimulator({
        seed: 11,
        timeScale: 0.001,
        vapi: { serverUrl: receiver.url },
        retell: { webhookUrl: receiver.url },
      });
      provider = put.makeProvider(sim.url, put.key(sim));
    });
    afterAll(async () => {
      await sim?.close();
      await receiver?.close();
    });
    beforeEach(() => {
      sim.reset();
      receiver.received.length = 0;
    });

    const request = (over: Partial<CreateCallRequest> = {}): CreateCallRequest => {
      const callId = String(nextId++);
      return {
        callId,
        contactId: String(70000 + nextId),
        contactName: 'Ada Lovelace',
        to: fictional(nextId),
        from: FROM,
        optOutUrl: `http://127.0.0.1:1/call-status/opt-out?call_id=${callId}&sig=abc`,
        statusCallbackUrl: `${receiver.url}?call_id=${callId}`,
        settings: put.settings,
        timeoutMs: 2000,
        ...over,
      };
    };

    /** The events of one of our calls, parsed, in arrival order, once it ended. */
    const eventsOf = async (callId: string, finalCount = 1): Promise<StatusUpdate[]> => {
      await put.part(sim).settled(10_000);
      const mine = receiver.received
        .map((r) => ({ r, u: put.parse(JSON.parse(r.body)) }))
        .filter((x) => x.u?.callId === callId);
      for (const x of mine) expect(await put.verify(sim, x.r)).toBe(true);
      const updates = mine.map((x) => x.u!);
      expect(updates.filter((u) => ['completed', 'busy', 'no_answer', 'failed', 'canceled'].includes(u.status)).length)
        .toBeGreaterThanOrEqual(finalCount);
      return updates;
    };

    it("creates a call, telling the call flow whom it calls in the platform's own fields", async () => {
      const req = request();
      const outcome = await provider.createCall(req);
      expect(outcome.kind).toBe('accepted');
      if (outcome.kind !== 'accepted') return;
      expect(outcome.status).toBe('dialing');
      const calls = put.part(sim).calls();
      expect(calls).toHaveLength(1);
      expect(calls[0]!.id).toBe(outcome.providerCallId);
      expect(calls[0]!.to).toBe(req.to);
      expect(put.sent(calls[0]!.request)).toEqual({
        callId: req.callId,
        contactId: req.contactId,
        name: 'Ada Lovelace',
        optOut: req.optOutUrl,
      });
    });

    const finals: Array<[PlatformOutcome, string, string | undefined]> = [
      ['completed', 'completed', undefined],
      ['busy', 'busy', undefined],
      ['no-answer', 'no_answer', undefined],
      ['failed', 'failed', undefined],
      ['voicemail', 'completed', 'machine_start'],
    ];
    for (const [simOutcome, ours, answeredBy] of finals) {
      it(`events of a ${simOutcome} call arrive authenticated and end as ${ours}`, async () => {
        const req = request();
        put.part(sim).setFaults({ numbers: [{ match: req.to, outcome: simOutcome }] });
        const outcome = await provider.createCall(req);
        expect(outcome.kind).toBe('accepted');
        const updates = await eventsOf(req.callId);
        const last = updates[updates.length - 1]!;
        expect(last.status).toBe(ours);
        expect(last.answeredBy).toBe(answeredBy);
        if (outcome.kind === 'accepted') expect(last.providerCallId).toBe(outcome.providerCallId);
        // A lookup of the ended call says the same.
        const looked = await provider.lookupCall!({
          providerCallId: last.providerCallId,
          to: req.to,
          from: req.from,
          dialedAt: new Date(),
          timeoutMs: 2000,
        });
        expect(looked).toMatchObject({ kind: 'found', providerCallId: last.providerCallId, status: ours });
      });
    }

    it('an event with a wrong secret or signature does not verify', async () => {
      const req = request();
      put.part(sim).setFaults({ numbers: [{ match: req.to, outcome: 'busy' }] });
      await provider.createCall(req);
      await put.part(sim).settled(10_000);
      const r = receiver.received[0]!;
      const tampered: Received = { headers: r.headers, body: r.body.replace('"', ' "') };
      const forged: Received = {
        headers: { ...r.headers, 'x-vapi-secret': 'not-the-secret', 'x-retell-signature': `v=${Date.now()},d=${'0'.repeat(64)}` },
        body: r.body,
      };
      expect(await put.verify(sim, forged)).toBe(false);
      if (name === 'retell') expect(await put.verify(sim, tampered)).toBe(false);
    });

    it('429 is retryable with its Retry-After, and nothing is created', async () => {
      put.part(sim).setFaults({ script: ['429'], retryAfterSeconds: 3 });
      const outcome = await provider.createCall(request());
      expect(outcome).toMatchObject({ kind: 'retryable', httpStatus: 429, retryAfterMs: 3000 });
      expect(put.part(sim).stats().created).toBe(0);
    });

    it('503 and an outage are retryable', async () => {
      put.part(sim).setFaults({ script: ['503'] });
      expect((await provider.createCall(request())).kind).toBe('retryable');
      put.part(sim).setFaults({ outage: true });
      expect((await provider.createCall(request())).kind).toBe('retryable');
      expect(put.part(sim).stats().created).toBe(0);
    });

    it('500 is unknown (the call may exist: here it does, and its events still come)', async () => {
      put.part(sim).setFaults({ script: ['500'] });
      const req = request();
      expect((await provider.createCall(req)).kind).toBe('unknown');
      expect(put.part(sim).stats().created).toBe(1);
      const updates = await eventsOf(req.callId);
      expect(updates.length).toBeGreaterThan(0);
    });

    it('a request left hanging times out as unknown', async () => {
      put.part(sim).setFaults({ script: ['hang'] });
      const outcome = await provider.createCall(request({ timeoutMs: 200 }));
      expect(outcome.kind).toBe('unknown');
    });

    it('a refused number is permanent and marks the number invalid', async () => {
      const req = request();
      put.part(sim).setFaults({ numbers: [{ match: req.to, reject: { status: 400, message: put.invalidNumberMessage } }] });
      const outcome = await provider.createCall(req);
      expect(outcome).toMatchObject({ kind: 'permanent', invalidNumber: true, httpStatus: 400 });
      expect((outcome as { campaignLevel?: boolean }).campaignLevel).toBeFalsy();
    });

    it('a wrong API key refuses the campaign, not the contact', async () => {
      const wrong = put.makeProvider(sim.url, 'not-the-key');
      const outcome = await wrong.createCall(request());
      expect(outcome).toMatchObject({ kind: 'permanent', httpStatus: 401, invalidNumber: false, campaignLevel: true });
    });

    it('a number that is not E.164 is refused before anything is sent', async () => {
      const outcome = await provider.createCall(request({ to: '555-0100' }));
      expect(outcome).toMatchObject({ kind: 'permanent', invalidNumber: true });
      expect(put.part(sim).stats().createRequests).toBe(0);
    });

    it('a connection refused is retryable (nothing was sent)', async () => {
      const dead = put.makeProvider(`http://127.0.0.1:${await closedPort()}`, put.key(sim));
      expect((await dead.createCall(request())).kind).toBe('retryable');
    });

    it('a lookup of an id the platform does not know is absent', async () => {
      const looked = await provider.lookupCall!({
        providerCallId: 'no-such-call',
        to: FROM,
        from: FROM,
        dialedAt: new Date(),
        timeoutMs: 2000,
      });
      expect(looked).toEqual({ kind: 'absent' });
    });

    it("the control API sets the part's faults and lists its calls", async () => {
      const faults = await fetch(`${sim.url}/__sim/${name}/faults`, {
        method: 'POST',
        body: JSON.stringify({ script: ['429'] }),
      });
      expect(await faults.json()).toMatchObject({ script: ['429'] });
      expect((await provider.createCall(request())).kind).toBe('retryable');
      expect((await provider.createCall(request())).kind).toBe('accepted');
      const calls = (await (await fetch(`${sim.url}/__sim/${name}/calls`)).json()) as unknown[];
      expect(calls).toHaveLength(1);
      const bad = await fetch(`${sim.url}/__sim/${name}/faults`, { method: 'POST', body: JSON.stringify({ rate429: 2 }) });
      expect(bad.status).toBe(400);
    });

    it('waits for every event of a call before the next test', async () => {
      // Guards the suite itself: settled() resolves once nothing is pending.
      const req = request();
      await provider.createCall(req);
      await waitFor('the simulator to settle', async () => (await put.part(sim).settled(10_000), true));
      expect(put.part(sim).stats().eventsPending).toBe(0);
    });
  });
}

const str = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

describePlatform('vapi', {
  part: (sim) => sim.vapi,
  key: (sim) => sim.vapi.apiKey,
  makeProvider: (baseUrl, apiKey) => new VapiProvider({ baseUrl, apiKey }),
  settings: { assistant_id: 'asst_sim', phone_number_id: 'pn_sim' },
  verify: (sim, r) => verifyVapiServerSecret(new Headers(r.headers as Record<string, string>), sim.vapi.serverSecret),
  parse: parseVapiServerMessage,
  sent: (b) => {
    const vars = str(str(b.assistantOverrides).variableValues);
    expect(str(b.metadata).call_id).toBe(vars.call_id);
    expect(str(b.customer).name).toBe(vars.contact_name);
    return { callId: vars.call_id, contactId: str(b.metadata).contact_id, name: vars.contact_name, optOut: vars.opt_out_url };
  },
  invalidNumberMessage: 'customer.number must be a valid phone number in the E.164 format',
});

describePlatform('retell', {
  part: (sim) => sim.retell,
  key: (sim) => sim.retell.apiKey,
  makeProvider: (baseUrl, apiKey) => new RetellProvider({ baseUrl, apiKey }),
  settings: { agent_id: 'agent_sim' },
  verify: (sim, r) => verifyRetellSignature(sim.retell.apiKey, r.body, String(r.headers['x-retell-signature'] ?? '')),
  parse: parseRetellEvent,
  sent: (b) => {
    const vars = str(b.retell_llm_dynamic_variables);
    expect(str(b.metadata).call_id).toBe(vars.call_id);
    expect(b.override_agent_id).toBe('agent_sim');
    return { callId: vars.call_id, contactId: str(b.metadata).contact_id, name: vars.contact_name, optOut: vars.opt_out_url };
  },
  invalidNumberMessage: 'to_number is not a valid phone number',
});
