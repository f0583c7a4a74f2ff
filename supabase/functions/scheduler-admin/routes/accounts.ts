// Provider accounts: list, create, read, change rate / cap, delete (when no campaign uses it).
// GET|POST /accounts, GET|PATCH|DELETE /accounts/<id>.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /accounts       {accounts: [AccountJson...]}: the provider accounts (view scheduler_account_status):
//                          {id, provider, account_sid, calls_per_second (effective), own_calls_per_second (null: the
//                          global setting), max_concurrent_calls (null: no own cap), active_calls,
//                          queued_calls, breaker_state, breaker_open_until, breaker_consecutive_failures,
//                          breaker_last_failure_reason, campaigns, live_campaigns, campaign_ids, created_at,
//                          updated_at}
//   POST   /accounts       AccountCreate (_shared/account-schema.ts) -> 201 AccountJson; 409 when the id is
//                          taken; audited account.create
//   GET    /accounts/<id>  AccountJson
//   PATCH  /accounts/<id>  AccountPatch {account_sid?, calls_per_second?, max_concurrent_calls?} (null:
//                          TWILIO_ACCOUNT_SID / inherit / no cap)
//                          -> AccountJson after; audited account.update (before/after). Never touches the
//                          rate bucket (next_send_at).
//   DELETE /accounts/<id>  -> {deleted: row}; 409 naming the campaigns when campaigns dial through it (and for
//                          'default'); audited account.delete

import { jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import { createAccount, deleteAccount, listAccounts, readAccount, updateAccount } from '../../_shared/queries.ts';
import { ACCOUNT_ID_PATTERN, AccountCreate, AccountPatch } from '../../_shared/account-schema.ts';
import { actorOf, type AdminContext, discardBody, notFound, readValid } from './common.ts';

/** The account id of the path, or null (after dropping the body) when it cannot be one: 404. */
async function accountId(c: AdminContext): Promise<string | null> {
  const id = c.req.param('id') ?? '';
  if (ACCOUNT_ID_PATTERN.test(id)) return id;
  await discardBody(c.req.raw);
  return null;
}
const noSuchId = () => notFound('no provider account with that id');
const noAccount = (id: string) => notFound(`no provider account "${id}"`);

/** GET /accounts: the view scheduler_account_status, with effective rates. */
export async function list(c: AdminContext): Promise<Response> {
  return jsonResponse({ accounts: await listAccounts(c.var.deps.db) });
}

/** POST /accounts: AccountCreate -> 201; 409 when the id is taken; audited account.create. */
export async function create(c: AdminContext): Promise<Response> {
  const body = await readValid(c, AccountCreate);
  return jsonResponse(await createAccount(c.var.deps.db, body, actorOf(c)), 201);
}

/** GET /accounts/<id> */
export async function read(c: AdminContext): Promise<Response> {
  const id = await accountId(c);
  if (id === null) return noSuchId();
  const row = await readAccount(c.var.deps.db, id);
  return row ? jsonResponse(row) : noAccount(id);
}

/** PATCH /accounts/<id>: AccountPatch; audited account.update. Never touches the rate bucket. */
export async function update(c: AdminContext): Promise<Response> {
  const id = await accountId(c);
  if (id === null) return noSuchId();
  const body = await readValid(c, AccountPatch);
  const row = await updateAccount(c.var.deps.db, id, body, actorOf(c));
  return row ? jsonResponse(row) : noAccount(id);
}

/** DELETE /accounts/<id>: 409 naming the campaigns that dial through it (and for 'default'); audited account.delete. */
export async function remove(c: AdminContext): Promise<Response> {
  const id = await accountId(c);
  if (id === null) return noSuchId();
  await readBodyLimited(c.req.raw, 1024); // nothing expected; refuse big bodies
  const deleted = await deleteAccount(c.var.deps.db, id, actorOf(c));
  return deleted ? jsonResponse({ deleted }) : noAccount(id);
}
