// What the admin API accepts for a webhook endpoint, and the Standard Webhooks secret it generates.

import { z } from 'zod';

export const WEBHOOK_EVENT_TYPES = ['call.completed', 'contact.finished', 'campaign.status_changed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** whsec_ + base64 of 24 to 64 bytes (the database checks the same shape). */
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

export const WebhookEndpointCreate = z
  .object({
    url: z.string().trim().min(1, 'url: required').max(2000, 'url: at most 2000 characters'),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1, 'events: at least one').max(WEBHOOK_EVENT_TYPES.length * 2)
      .default([...WEBHOOK_EVENT_TYPES]),
    secret: z.string().regex(WEBHOOK_SECRET_PATTERN, 'secret: whsec_ followed by base64 of 24 to 64 random bytes').optional(),
    description: z.string().trim().max(200, 'description: at most 200 characters').optional(),
  })
  .strict();
export type WebhookEndpointCreate = z.infer<typeof WebhookEndpointCreate>;

export const WebhookEndpointPatch = z.object({ enabled: z.boolean() }).strict();

/** A new signing secret: whsec_ + base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `whsec_${btoa(binary)}`;
}
