// One person's story (contact_story): every contact with their number, each call and what allowed
// it. GET /contacts?phone=<number> and GET /contacts/<contact id>.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /contacts?phone=<number> one person's story (contact_story): {phone, do_not_call, contacts:
//                          [{..., calls: [{..., evidence}]}]}; the number in E.164 (spaces, dashes, dots
//                          and parentheses are ignored); a number nobody has: {phone, do_not_call, contacts: []}
//   GET    /contacts/<id> the story of that contact's number; 404 when there is no such contact

import { HttpError, jsonResponse } from '../../_shared/http.ts';
import { readContactStory } from '../../_shared/queries.ts';
import { isE164 } from '../../_shared/phone.ts';
import { type AdminContext, notFound, NUMERIC_ID, query } from './common.ts';

/** GET /contacts?phone=: the number in E.164 (spaces, dashes, dots and parentheses ignored); nobody: contacts []. */
export async function storyByPhone(c: AdminContext): Promise<Response> {
  const raw = (query(c).get('phone') ?? '').replace(/[\s().-]/g, '');
  if (!isE164(raw)) {
    throw new HttpError(400, 'phone: a number in E.164 form, e.g. +14155550100 (spaces, dashes and parentheses are ignored)');
  }
  return jsonResponse(await readContactStory(c.var.deps.db, { phone: raw }));
}

/** GET /contacts/<id>: the story of that contact's number; 404 when there is no such contact. */
export async function storyByContact(c: AdminContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  if (!NUMERIC_ID.test(id)) throw new HttpError(400, 'contact id: a positive integer');
  const story = await readContactStory(c.var.deps.db, { contactId: id });
  return story ? jsonResponse(story) : notFound('no contact with that id');
}
