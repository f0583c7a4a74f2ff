// Named operator tokens: list, create (shown once), revoke by id, revoke everything a credential
// made. GET /tokens, POST /tokens, DELETE /tokens/<id>, POST /tokens/revoke-by-creator.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /tokens        the named operator tokens with role, creator and state (never a token or its hash)
//   POST   /tokens        {name, role? (viewer), expires_in_days? (90; at most 365)}
//                          -> {id, name, role, created_at, expires_at, token}: the token, shown once. A role
//                          above the caller's: 403. A token made by a named token never outlives it. A
//                          name of digits only: 400 (ids are numbers; names are never ids)
//   DELETE /tokens/<id>   revokes the live token with that id (never a name: 400 for anything but an id)
//   POST   /tokens/revoke-by-creator {created_by} -> {revoked: [{id, name, created_by, revoked_at}...]}:
//                          every live token that credential made (created_by as listed, or its leading part:
//                          operator:<id>, user:<sub>), and the tokens those made

import { z } from 'zod';
import { HttpError, jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import {
  createOperatorToken,
  listOperatorTokens,
  revokeOperatorToken,
  revokeOperatorTokensByCreator,
} from '../../_shared/queries.ts';
import { generateOperatorToken, sha256 } from '../../_shared/operator-auth.ts';
import { OperatorRoleSchema, roleAtLeast } from '../../_shared/roles.ts';
import { actorOf, type AdminContext, forbidden, notFound, NUMERIC_ID, readValid } from './common.ts';

/** Token lifetimes (the database holds the same bounds: create_operator_token, operator_tokens). */
export const TOKEN_DEFAULT_DAYS = 90;
export const TOKEN_MAX_DAYS = 365;

const NewToken = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'name: 1-64 letters, digits, . _ @ - (starting with a letter or digit)')
      .refine(
        (n) => !/^[0-9]+$/.test(n),
        'name: not digits only (a token is revoked by its id, a number; a name must never look like one)',
      ),
    role: OperatorRoleSchema.default('viewer'),
    expires_in_days: z.number().positive().max(TOKEN_MAX_DAYS, `expires_in_days: at most ${TOKEN_MAX_DAYS}`).optional(),
  })
  .strict();

const RevokeByCreator = z
  .object({
    created_by: z.string().trim().min(1, 'created_by: the credential, as the token list names it').max(200).regex(
      /^\S+$/,
      'created_by: no spaces',
    ),
  })
  .strict();

/** GET /tokens: role, creator and state of each (never a token or its hash). */
export async function list(c: AdminContext): Promise<Response> {
  return jsonResponse({ tokens: await listOperatorTokens(c.var.deps.db, c.var.deps.now()) });
}

/** POST /tokens: a new token, shown this once; never above the caller's role. */
export async function create(c: AdminContext): Promise<Response> {
  const who = c.var.who;
  const body = await readValid(c, NewToken);
  if (!roleAtLeast(who.role, body.role)) {
    return forbidden(who.role, body.role, `a ${who.role} credential cannot create a ${body.role} token`);
  }
  const token = generateOperatorToken();
  const at = c.var.deps.now();
  const expiresAt = body.expires_in_days === undefined
    ? null // the database's default: TOKEN_DEFAULT_DAYS, never past the creating token's expiry
    : new Date(at.getTime() + body.expires_in_days * 86_400_000);
  const row = await createOperatorToken(c.var.deps.db, {
    name: body.name,
    sha256: await sha256(token),
    expiresAt,
    role: body.role,
    ...actorOf(c),
    now: at,
  });
  // The only time the token is ever shown.
  return jsonResponse({ ...row, token }, 201);
}

/** POST /tokens/revoke-by-creator: every live token that credential made, and the tokens those made. */
export async function revokeByCreator(c: AdminContext): Promise<Response> {
  const body = await readValid(c, RevokeByCreator);
  const revoked = await revokeOperatorTokensByCreator(c.var.deps.db, { creator: body.created_by, ...actorOf(c) });
  return jsonResponse({ revoked });
}

/** DELETE /tokens/<id>: by its id only, never by a name (400). */
export async function revoke(c: AdminContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  if (id.length > 192) return jsonResponse({ error: 'not_found' }, 404);
  await readBodyLimited(c.req.raw, 1024); // nothing expected; refuse big bodies
  if (!NUMERIC_ID.test(id)) {
    throw new HttpError(400, 'a token is revoked by its id (the number in the token list), never by its name', 'bad_request');
  }
  const row = await revokeOperatorToken(c.var.deps.db, { id, ...actorOf(c) });
  return row ? jsonResponse(row) : notFound('no live token with that id');
}
