// Campaigns: list, create, read, edit, and pause / resume / cancel (with a preview of what each
// would do). GET|POST /campaigns, GET|PATCH /campaigns/<id>, GET /campaigns/<id>/preview-action,
// POST /campaigns/<id>/pause|resume|cancel. Their contacts are in contacts.ts.
//
// What each route takes and answers (the role each needs: ROUTES in ../handler.ts):
//
//   GET    /campaigns      {campaigns: [row...]} (newest first)
//   POST   /campaigns      CampaignCreate (_shared/campaign-schema.ts) -> 201 row; audited campaign.create
//   GET    /campaigns/<id> the row
//   PATCH  /campaigns/<id> CampaignPatch -> the row after; audited campaign.update (before/after)
//   GET    /campaigns/<id>/preview-action?action=pause|resume|cancel
//                          -> {allowed, reason, status, status_after, queued_calls_released,
//                              active_calls_finishing, pending_contacts_ended, pending_contacts}
//   POST   /campaigns/<id>/pause|resume|cancel
//                          -> {campaign, queued_calls_released, active_calls_finishing, pending_contacts_ended};
//                             409 when the status does not allow it; audited campaign.<action>

import { HttpError, jsonResponse, readBodyLimited } from '../../_shared/http.ts';
import {
  applyCampaignAction,
  createCampaign,
  listCampaigns,
  previewCampaignAction,
  readCampaign,
  updateCampaign,
} from '../../_shared/queries.ts';
import { insecureUrlProblem } from '../../_shared/config.ts';
import { CAMPAIGN_ACTIONS, CampaignCreate, CampaignPatch } from '../../_shared/campaign-schema.ts';
import { actorOf, type AdminContext, InvalidFields, notFound, NUMERIC_ID, query, readValid } from './common.ts';

const noCampaign = () => notFound('no campaign with that id');

/** The campaign id of the path, or null when it cannot be one (answered 404 like an unknown one). */
export function campaignId(c: AdminContext): string | null {
  const id = c.req.param('id') ?? '';
  return NUMERIC_ID.test(id) ? id : null;
}

/** A campaign's answer URL (provider_settings.url): https:// unless ALLOW_INSECURE_URLS (400 naming it). */
function refuseInsecureAnswerUrl(c: AdminContext, settings: Record<string, unknown> | undefined): void {
  const url = settings?.url;
  if (typeof url !== 'string' || url === '') return;
  const problem = insecureUrlProblem(url, c.var.deps.allowInsecureUrls);
  if (problem) throw new InvalidFields([{ field: 'provider_settings.url', message: problem }]);
}

/** GET /campaigns: newest first. */
export async function list(c: AdminContext): Promise<Response> {
  return jsonResponse({ campaigns: await listCampaigns(c.var.deps.db) });
}

/** POST /campaigns: CampaignCreate -> 201 the row; audited campaign.create. */
export async function create(c: AdminContext): Promise<Response> {
  const body = await readValid(c, CampaignCreate, 65_536);
  refuseInsecureAnswerUrl(c, body.provider_settings);
  return jsonResponse(await createCampaign(c.var.deps.db, body, actorOf(c)), 201);
}

/** GET /campaigns/<id> */
export async function read(c: AdminContext): Promise<Response> {
  const id = campaignId(c);
  const row = id === null ? null : await readCampaign(c.var.deps.db, id);
  return row ? jsonResponse(row) : noCampaign();
}

/** PATCH /campaigns/<id>: CampaignPatch -> the row after; audited campaign.update. */
export async function update(c: AdminContext): Promise<Response> {
  const id = campaignId(c);
  if (id === null) return noCampaign();
  const body = await readValid(c, CampaignPatch, 65_536);
  refuseInsecureAnswerUrl(c, body.provider_settings);
  const row = await updateCampaign(c.var.deps.db, id, body, actorOf(c));
  return row ? jsonResponse(row) : noCampaign();
}

/** GET /campaigns/<id>/preview-action?action=pause|resume|cancel: what the action would do, changing nothing. */
export async function previewAction(c: AdminContext): Promise<Response> {
  const id = campaignId(c);
  if (id === null) return noCampaign();
  const action = query(c).get('action') ?? '';
  if (!(CAMPAIGN_ACTIONS as readonly string[]).includes(action)) {
    throw new HttpError(400, 'action must be pause, resume or cancel');
  }
  const preview = await previewCampaignAction(c.var.deps.db, id, action);
  return preview ? jsonResponse(preview) : noCampaign();
}

/** POST /campaigns/<id>/pause|resume|cancel: 409 when the status does not allow it; audited campaign.<action>. */
export async function applyAction(c: AdminContext): Promise<Response> {
  const id = campaignId(c);
  if (id === null) return noCampaign();
  await readBodyLimited(c.req.raw, 1024); // nothing expected; refuse big bodies
  const result = await applyCampaignAction(c.var.deps.db, id, c.req.param('action') ?? '', actorOf(c));
  return result ? jsonResponse(result) : noCampaign();
}
