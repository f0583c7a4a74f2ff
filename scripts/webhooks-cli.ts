// `npm run campaign -- webhooks ...`: outcome webhook endpoints through scheduler-admin's API
// (admin role to change anything; a viewer can list and read the delivery log).
//
//   webhooks [list]                                  the endpoints: id, state, URL, events, deliveries
//   webhooks add --url <https://...> [--events call.completed,contact.finished,campaign.status_changed]
//                [--secret whsec_...] [--description <text>]
//                                                    prints the signing secret once (generated when not given)
//   webhooks disable|enable|delete <id>
//   webhooks deliveries <id> [--status pending|delivered|dead] [--rows N]
//                                                    the delivery log, newest first, each attempt's status or error
//   webhooks replay <id> [--delivery <delivery id>]  sends that delivery again, or every dead one

export type AdminCall = (
  path: string,
  opts?: { method?: 'GET' | 'POST' | 'PATCH' | 'DELETE'; body?: Record<string, unknown> },
) => Promise<{ status: number; json: Record<string, unknown> }>;

export class WebhooksUsageError extends Error {}

function describeEndpoint(e: Record<string, unknown>): string {
  const events = Array.isArray(e.events) ? e.events.join(',') : '';
  return `${String(e.id)}\t${e.enabled ? 'enabled' : 'disabled'}\t${String(e.url)}\t${events}\t` +
    `pending ${String(e.pending)}, dead ${String(e.dead)}, delivered ${String(e.delivered)}` +
    (e.description ? `\t${String(e.description)}` : '');
}

export async function runWebhooksCommand(
  positionals: string[],
  values: Record<string, string | boolean | undefined>,
  call: AdminCall,
  out: (line: string) => void,
): Promise<number> {
  const [sub = 'list', endpointId] = positionals;
  const needId = (): string => {
    if (!endpointId || !/^[1-9][0-9]{0,17}$/.test(endpointId)) {
      throw new WebhooksUsageError(`webhooks ${sub} needs an endpoint id`);
    }
    return endpointId;
  };
  const text = (flag: string): string | undefined => (typeof values[flag] === 'string' ? (values[flag] as string) : undefined);
  switch (sub) {
    case 'list': {
      const endpoints = (await call('/webhooks')).json.endpoints as Array<Record<string, unknown>>;
      if (endpoints.length === 0) out('no webhook endpoints');
      for (const e of endpoints) out(describeEndpoint(e));
      return 0;
    }
    case 'add': {
      const url = text('url');
      if (!url) throw new WebhooksUsageError('webhooks add needs --url <https://...>');
      const events = text('events');
      const body = {
        url,
        ...(events ? { events: events.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(text('secret') ? { secret: text('secret') } : {}),
        ...(text('description') ? { description: text('description') } : {}),
      };
      const { json } = await call('/webhooks', { method: 'POST', body });
      out(`added: ${describeEndpoint(json)}`);
      out(`signing secret (shown once, keep it): ${String(json.secret)}`);
      return 0;
    }
    case 'enable':
    case 'disable': {
      const { json } = await call(`/webhooks/${needId()}`, { method: 'PATCH', body: { enabled: sub === 'enable' } });
      out(`${sub}d: ${describeEndpoint(json)}`);
      return 0;
    }
    case 'delete': {
      const { json } = await call(`/webhooks/${needId()}`, { method: 'DELETE' });
      out(`deleted: ${describeEndpoint(json.deleted as Record<string, unknown>)}`);
      return 0;
    }
    case 'deliveries': {
      const q = new URLSearchParams({ limit: text('rows') ?? '50', ...(text('status') ? { status: text('status')! } : {}) });
      const deliveries = (await call(`/webhooks/${needId()}/deliveries?${q}`)).json.deliveries as Array<Record<string, unknown>>;
      if (deliveries.length === 0) out('no deliveries');
      for (const d of deliveries) {
        const next = d.next_attempt_at ? `\tnext ${String(d.next_attempt_at)}` : '';
        out(
          `${String(d.id)}\t${String(d.event_type)}\t${String(d.event_id)}\t${String(d.status)}\t${
            String(d.attempts)
          } attempt(s)${next}`,
        );
        for (const a of (d.log ?? []) as Array<Record<string, unknown>>) {
          out(
            `  #${String(a.attempt)} ${String(a.started_at)}\t${
              a.status_code === null ? String(a.error) : `HTTP ${String(a.status_code)}`
            }`,
          );
        }
      }
      return 0;
    }
    case 'replay': {
      const delivery = text('delivery');
      const { json } = await call(`/webhooks/${needId()}/replay`, {
        method: 'POST',
        body: delivery ? { delivery_id: delivery } : {},
      });
      out(`replayed ${String(json.replayed)} deliver${json.replayed === 1 ? 'y' : 'ies'}`);
      return 0;
    }
    default:
      throw new WebhooksUsageError(`unknown webhooks command ${JSON.stringify(sub)}`);
  }
}
