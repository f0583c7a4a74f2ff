// The control API (/__sim/...: loopback, no auth, JSON) through which tests, the bench and a
// simulator in a process of its own (process.ts) are driven: the same operations as the
// TwilioSimulator object, for the Twilio part and for the Vapi and Retell parts.

import type http from 'node:http';
import type { SimFaultsPatch } from './core.ts';
import { replaceFaults } from './faults.ts';
import { json } from './respond.ts';
import type { TwilioSimulator } from './server.ts';
import type { SimState } from './state.ts';

/** What the control API acts on: the simulator's own operations (see TwilioSimulator in server.ts). */
export type ControlTarget = Omit<TwilioSimulator, 'url' | 'close' | 'settled'>;

export function handleControl(
  sim: SimState,
  api: ControlTarget,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  query: URLSearchParams,
  body: string,
): void {
  const parse = (): unknown => (body.trim() ? JSON.parse(body) : {});
  try {
    // The Vapi and Retell parts: /__sim/vapi/... and /__sim/retell/... (stats, calls, faults, event-url).
    const part = /^\/__sim\/(vapi|retell)\/(stats|calls|faults|event-url)$/.exec(pathname);
    if (part) {
      const p = part[1] === 'vapi' ? api.vapi : api.retell;
      if (part[2] === 'stats' && req.method === 'GET') return json(res, 200, p.stats());
      if (part[2] === 'calls' && req.method === 'GET') return json(res, 200, p.calls());
      if (part[2] === 'faults' && req.method === 'GET') return json(res, 200, p.faults());
      if (part[2] === 'faults' && req.method === 'POST') {
        p.setFaults(JSON.parse(body || '{}'));
        return json(res, 200, p.faults());
      }
      if (part[2] === 'event-url' && req.method === 'POST') {
        const u = (JSON.parse(body || '{}') as { url?: unknown }).url;
        p.setEventUrl(typeof u === 'string' ? u : null);
        return json(res, 200, { ok: true });
      }
    }
    if (pathname === '/__sim/stats' && req.method === 'GET') return json(res, 200, api.stats());
    if (pathname === '/__sim/calls' && req.method === 'GET') return json(res, 200, api.calls());
    if (pathname === '/__sim/arrivals' && req.method === 'GET') {
      return json(res, 200, { arrivals: api.createArrivals() });
    }
    if (pathname === '/__sim/rate' && req.method === 'GET') {
      const windowMs = Number(query.get('windowMs') ?? '1000');
      return json(res, 200, {
        windowMs,
        maxRequests: api.maxRequestsInWindow(windowMs),
        requests: sim.arrivals.length,
      });
    }
    if (pathname === '/__sim/faults' && req.method === 'GET') return json(res, 200, api.faults());
    if (pathname === '/__sim/faults' && req.method === 'POST') {
      api.setFaults(parse() as SimFaultsPatch);
      return json(res, 200, api.faults());
    }
    if (pathname === '/__sim/faults' && req.method === 'PUT') {
      replaceFaults(sim, parse());
      return json(res, 200, api.faults());
    }
    if (pathname === '/__sim/reset' && req.method === 'POST') {
      const b = parse() as { seed?: unknown };
      if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isFinite(b.seed))) {
        throw new Error('seed must be a number');
      }
      api.reset(typeof b.seed === 'number' ? { seed: b.seed } : {});
      return json(res, 200, { ok: true });
    }
    return json(res, 404, { error: 'not_found' });
  } catch (err) {
    return json(res, 400, { error: err instanceof Error ? err.message : String(err) });
  }
}
