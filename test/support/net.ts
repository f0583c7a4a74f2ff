// Loopback odds and ends: a port nothing listens on, and HTTP requests read whole.

import http from 'node:http';
import type net from 'node:net';
import { freePort } from '../../scripts/stack/processes.ts';

/** A loopback port nothing listens on (one the OS had free a moment ago). */
export const closedPort = freePort;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON (any: tests read whatever an answer holds). */
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** fetch, with the body read as text and parsed as JSON when it is JSON. */
export async function request(url: string, init: RequestInit = {}): Promise<HttpAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export interface ReceivedCallback {
  url: string;
  method: string;
  signature: string;
  body: string;
  params: URLSearchParams;
}

export interface CallbackReceiver {
  /** The callback URL to give a provider (…/functions/v1/call-status). */
  url: string;
  received: ReceivedCallback[];
  clear(): void;
  close(): Promise<void>;
}

/**
 * A status-callback receiver on loopback standing where call-status would: it records every
 * request (full URL, X-Twilio-Signature, form body) and answers `status` (200 by default).
 */
export async function startCallbackReceiver(status = 200): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const { port } = server.address() as net.AddressInfo;
      received.push({
        url: `http://127.0.0.1:${port}${req.url ?? '/'}`,
        method: req.method ?? '',
        signature: String(req.headers['x-twilio-signature'] ?? ''),
        body,
        params: new URLSearchParams(body),
      });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status < 300 ? '{"result":"applied"}' : '{"error":"refused"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/functions/v1/call-status`,
    received,
    clear: () => {
      received.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
