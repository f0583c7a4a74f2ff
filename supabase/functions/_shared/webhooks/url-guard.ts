// Where a webhook may be sent (server-side request forgery guard). An endpoint URL must be https://
// and every address its host resolves to must be public unicast: never private (10/8, 172.16/12,
// 192.168/16), loopback, link-local (169.254/16, fe80::/10, which includes cloud metadata services),
// carrier-grade NAT (100.64/10), unique-local (fc00::/7), multicast, unspecified or reserved. It is
// checked when an endpoint is registered and again before every delivery, after DNS resolution, so
// a name that later points inside the network is refused then. Redirects are never followed.
//
// WEBHOOKS_ALLOW_PRIVATE_URLS=true turns the guard off (http:// and any address): for local
// development and the tests' loopback receivers only.

import ipaddr from 'ipaddr.js';
import { lookup } from 'node:dns/promises';

/** A host's addresses (IPv4 and IPv6 literals); [] when it does not resolve. */
export type Resolver = (host: string) => Promise<string[]>;

/** The system resolver, as fetch itself resolves names. */
export const systemResolver: Resolver = async (host) => {
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return [];
  }
};

/** Why a literal address is not a public unicast one, or undefined when it is. */
export function blockedAddressReason(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : `${address} is a ${range} address`;
}

export interface UrlGuardOptions {
  /** WEBHOOKS_ALLOW_PRIVATE_URLS: http:// and private addresses allowed (local development). */
  allowPrivate: boolean;
  resolve?: Resolver;
}

/** Why a webhook URL must not be used, or undefined. Resolves the host unless allowPrivate. */
export async function webhookUrlProblem(url: string, opts: UrlGuardOptions): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not an absolute URL';
  }
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password';
  if (parsed.protocol !== 'https:') {
    if (parsed.protocol === 'http:' && opts.allowPrivate) return undefined;
    return 'must be an https:// URL (http:// only with WEBHOOKS_ALLOW_PRIVATE_URLS=true, for local development)';
  }
  if (opts.allowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = ipaddr.isValid(host) ? [host] : await (opts.resolve ?? systemResolver)(host);
  if (addresses.length === 0) return `${host} does not resolve to any address`;
  for (const a of addresses) {
    const reason = blockedAddressReason(a);
    if (reason) return `${host} resolves to a non-public address (${reason}); refused unless WEBHOOKS_ALLOW_PRIVATE_URLS=true`;
  }
  return undefined;
}
