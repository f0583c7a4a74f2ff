// The calling-hours rules: listed, and turned on or off (one rule, or every rule of a state) with a
// reason. GET|PATCH /calling-hours-rules.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /calling-hours-rules  {rules: [{id, prefix, state, start_time, end_time, days, holidays, enabled,
//                          purposes, max_calls_per_24h, citation, effective_date, note}...]}: federal rules
//                          first, then by state and area code
//   PATCH  /calling-hours-rules  {id | state (USPS code), enabled, reason} -> {enabled, reason, changed: [ids],
//                          rules}: one rule or every rule of a state turned on or off; 404 when none
//                          matched; each change audited calling_hours_rule.enable / .disable (with the reason)

import { z } from 'zod';
import { jsonResponse } from '../../_shared/http.ts';
import { listCallingHoursRules, setCallingHoursRuleEnabled } from '../../_shared/queries.ts';
import { actorOf, type AdminContext, notFound, readValid, Reason } from './common.ts';

/** PATCH /calling-hours-rules: one rule (id) or every rule of a state, on or off, with a reason. */
const CallingHoursRuleSwitch = z
  .object({
    id: z.number().int().min(1).optional(),
    state: z.string().trim().regex(/^[A-Za-z]{2}$/, 'state: a two-letter USPS code such as FL').optional(),
    enabled: z.boolean(),
    reason: Reason,
  })
  .strict()
  .refine((b) => (b.id === undefined) !== (b.state === undefined), 'give exactly one of id and state');

/** GET /calling-hours-rules: federal rules first, then by state and area code. */
export async function list(c: AdminContext): Promise<Response> {
  return jsonResponse({ rules: await listCallingHoursRules(c.var.deps.db) });
}

/** PATCH /calling-hours-rules: 404 when none matched; each change audited calling_hours_rule.enable / .disable. */
export async function setEnabled(c: AdminContext): Promise<Response> {
  const { id, state, enabled, reason } = await readValid(c, CallingHoursRuleSwitch);
  const result = await setCallingHoursRuleEnabled(
    c.var.deps.db,
    { id: id ?? null, state: state ?? null },
    enabled,
    reason,
    actorOf(c),
  );
  return result.rules > 0 ? jsonResponse(result) : notFound('no calling-hours rule matches');
}
