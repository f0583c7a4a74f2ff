// scheduler-admin routes for one contact at a time (registered in handler.ts, roles in ROUTE_ROLES):
//
//   POST /campaigns/<id>/leads   [o]  NewLead (_shared/callbacks.ts): one contact as JSON with its
//                          priority, checked like a CSV row (phone, zone, consent) -> 201 the contact,
//                          due at once (speed to lead); 400 naming each field; 404 no such campaign;
//                          409 when the number is already its contact or the campaign is over;
//                          audited contact.add
//   PUT  /campaigns/<id>/contacts/<contact id>/callback   [o]  {at} -> the contact with callback_at:
//                          called at that instant (before the campaign's other due contacts, within
//                          windows, rules, consent, do-not-call and caps); 404 no such contact; 409
//                          for a contact never to be called again or a campaign that is over;
//                          audited contact.callback
//
// Database refusals (23505, 23514, 55000, 22023...) are thrown to handler.ts, which answers them.

import { jsonResponse } from '../_shared/http.ts';
import type { SqlClient } from '../_shared/db.ts';
import type { Actor } from '../_shared/queries.ts';
import { describeIssues } from '../_shared/campaign-schema.ts';
import { addLead, leadFields, NewCallback, NewLead, setContactCallback } from '../_shared/callbacks.ts';

const ID = /^[1-9][0-9]{0,17}$/;

function badRequest(issues: Array<{ field: string; message: string }>): Response {
  return jsonResponse({
    error: 'bad_request',
    message: issues.map((i) => `${i.field}: ${i.message}`).join('; '),
    issues,
    ...(issues.length === 1 ? { field: issues[0]!.field } : {}),
  }, 400);
}

/** The answer to a contact route, or undefined when `route` ("METHOD /path") is none of them. */
export async function contactRoutes(
  db: SqlClient,
  req: Request,
  route: string,
  actor: () => Actor,
  readJson: (req: Request, maxBytes?: number) => Promise<unknown>,
): Promise<Response | undefined> {
  const lead = /^POST \/campaigns\/([^/]+)\/leads$/.exec(route);
  if (lead) {
    const id = lead[1]!;
    const noCampaign = () => jsonResponse({ error: 'not_found', message: 'no campaign with that id' }, 404);
    if (!ID.test(id)) return noCampaign();
    const parsed = NewLead.safeParse(await readJson(req, 65_536));
    if (!parsed.success) return badRequest(describeIssues(parsed.error));
    const checked = leadFields(parsed.data);
    if ('issues' in checked) return badRequest(checked.issues);
    const row = await addLead(db, id, checked.fields, actor());
    return row ? jsonResponse(row, 201) : noCampaign();
  }
  const callback = /^PUT \/campaigns\/([^/]+)\/contacts\/([^/]+)\/callback$/.exec(route);
  if (callback) {
    const [, id, contactId] = callback as unknown as [string, string, string];
    const noContact = () => jsonResponse({ error: 'not_found', message: 'the campaign has no contact with that id' }, 404);
    if (!ID.test(id) || !ID.test(contactId)) return noContact();
    const parsed = NewCallback.safeParse(await readJson(req));
    if (!parsed.success) return badRequest(describeIssues(parsed.error));
    const row = await setContactCallback(db, id, contactId, parsed.data.at, actor());
    return row ? jsonResponse(row) : noContact();
  }
  return undefined;
}
