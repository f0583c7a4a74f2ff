// The calling-hours rules through scheduler-admin's API, against the real gateway and database: listed,
// turned off and on (one rule by id, or every rule of a state) with a reason, each change in
// operator_audit_log; and a campaign's purpose, which decides the rules that apply to it.

import { beforeEach, describe, expect, it } from 'vitest';
import { resetData } from '../support/db.ts';
import { useFunctionsStack } from '../support/functions.ts';
import { type HttpAnswer, request } from '../support/net.ts';

const stack = useFunctionsStack({ sim: { seed: 21, callbacks: false } });

beforeEach(async () => {
  await resetData(stack.db);
  // resetData empties the rules: the federal telemarketing rule and Florida's, as the migration seeds them.
  await stack.db.query(`
    insert into public.calling_hours_rules (prefix, start_time, end_time, purposes, citation)
    values ('', '08:00', '21:00', '{telemarketing}', '47 CFR 64.1200(c)(1)');
    insert into public.calling_hours_rules (prefix, start_time, end_time, state, purposes, max_calls_per_24h, citation)
    select a.prefix, '08:00', '20:00', a.state, '{telemarketing}', 3, 'Fla. Stat. 501.616(6)'
      from public.us_area_code_states a where a.state = 'FL';
    truncate public.operator_audit_log;`);
});

function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${stack.env.ADMIN_TOKEN}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return request(`${stack.gw.url}/scheduler-admin${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
}

describe('calling-hours rules through the admin API', () => {
  it('lists the rules, turns a state off and one rule back on, each change audited with its reason', async () => {
    const florida = Number(
      (await stack.db.query(`select count(*) from public.us_area_code_states where state = 'FL'`)).rows[0].count,
    );
    const listed = await admin('/calling-hours-rules');
    expect(listed.status).toBe(200);
    const rules = (listed.json as { rules: Array<Record<string, unknown>> }).rules;
    expect(rules).toHaveLength(florida + 1);
    expect(rules[0]).toMatchObject({ prefix: '', state: null, enabled: true, purposes: ['telemarketing'] });
    const miami = rules.find((r) => r.prefix === '+1305')!;
    expect(miami).toMatchObject({ state: 'FL', start_time: '08:00:00', end_time: '20:00:00', max_calls_per_24h: 3 });

    const off = await admin('/calling-hours-rules', {
      method: 'PATCH',
      body: { state: 'fl', enabled: false, reason: 'exempt: calls to existing customers only' },
    });
    expect(off.status).toBe(200);
    expect(off.json).toMatchObject({ enabled: false, rules: florida, reason: 'exempt: calls to existing customers only' });
    expect((off.json as { changed: number[] }).changed).toHaveLength(florida);
    const audit = await stack.db.query<{ action: string; actor_role: string; reason: string }>(
      `select action, actor_role, after ->> 'reason' as reason from public.operator_audit_log order by id`,
    );
    expect(audit.rows).toHaveLength(florida);
    expect(audit.rows[0]).toEqual({
      action: 'calling_hours_rule.disable',
      actor_role: 'admin',
      reason: 'exempt: calls to existing customers only',
    });

    const on = await admin('/calling-hours-rules', {
      method: 'PATCH',
      body: { id: Number(miami.id), enabled: true, reason: 'Miami is in scope' },
    });
    expect(on.status).toBe(200);
    expect(on.json).toMatchObject({ enabled: true, rules: 1, changed: [Number(miami.id)] });
    const enabled = await stack.db.query(`select prefix from public.calling_hours_rules where state = 'FL' and enabled`);
    expect(enabled.rows).toEqual([{ prefix: '+1305' }]);
  });

  it('refuses a switch without a reason or naming both an id and a state, and answers 404 when nothing matches', async () => {
    const noReason = await admin('/calling-hours-rules', { method: 'PATCH', body: { state: 'FL', enabled: false, reason: ' ' } });
    expect(noReason.status).toBe(400);
    const both = await admin('/calling-hours-rules', {
      method: 'PATCH',
      body: { id: 1, state: 'FL', enabled: false, reason: 'x' },
    });
    expect(both.status).toBe(400);
    const none = await admin('/calling-hours-rules', { method: 'PATCH', body: { state: 'ZZ', enabled: false, reason: 'x' } });
    expect(none.status).toBe(404);
    expect((await stack.db.query('select count(*)::integer as n from public.operator_audit_log')).rows[0].n).toBe(0);
  });

  it("takes a campaign's purpose, and refuses an unknown one naming the field", async () => {
    const created = await admin('/campaigns', { method: 'POST', body: { name: 'reminders', purpose: 'informational' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ purpose: 'informational' });
    const id = (created.json as { id: string | number }).id;
    const changed = await admin(`/campaigns/${id}`, { method: 'PATCH', body: { purpose: null } });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ purpose: null });
    const bad = await admin('/campaigns', { method: 'POST', body: { name: 'x', purpose: 'sales' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('purpose');
  });
});
