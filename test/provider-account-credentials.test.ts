// Each provider account's own credentials (PROVIDER_ACCOUNT_CREDENTIALS, providers/credentials.ts):
// the parsing and its errors naming the account and field, the adapter picked per (kind, account),
// which keys verify which account's events, and the logger's redaction of the secret fields only.
// Pure: no database, no network.

import { describe, expect, it } from 'vitest';
import {
  accountCredentials,
  eventKeysOf,
  mayMoveCallOf,
  verifiedNothing,
  verifyWithKeys,
} from '../supabase/functions/_shared/providers/credentials.ts';
import { accountProvidersFromEnv, ProvidersEnv } from '../supabase/functions/_shared/providers/env.ts';
import { allProviders, noAdapterOutcome, providerFor } from '../supabase/functions/_shared/providers/registry.ts';
import { composeFunction } from '../supabase/functions/_shared/entry.ts';
import { TickConfig } from '../supabase/functions/scheduler-tick/config.ts';
import { CallStatusConfig } from '../supabase/functions/call-status/config.ts';
import type { TelephonyProvider } from '../supabase/functions/_shared/provider.ts';
import { signalWireStatusCallbackUrl } from '../supabase/functions/_shared/providers/signalwire.ts';

const parse = (v: unknown) => accountCredentials.safeParse(typeof v === 'string' ? v : JSON.stringify(v));
const problem = (v: unknown) => {
  const r = parse(v);
  return r.success ? null : r.error.issues[0]!.message;
};

const SALES = { provider: 'vapi', apiKey: 'vapi-key-sales', serverSecret: 'vapi-secret-sales' };
const SUPPORT = { provider: 'retell', apiKey: 'retell-key-support', webhookKey: 'retell-webhook-support' };
const SW_EU = { provider: 'signalwire', projectId: 'p-eu', apiToken: 'sw-token-eu', spaceUrl: 'https://eu.signalwire.test/' };

describe('PROVIDER_ACCOUNT_CREDENTIALS', () => {
  it('unset or blank: no account has its own credentials', () => {
    expect(accountCredentials.parse(undefined)).toEqual({});
    expect(accountCredentials.parse('  ')).toEqual({});
  });

  it('reads one entry per account, each of its own kind (URLs without their trailing slash)', () => {
    const r = parse({ 'sales-vapi': SALES, 'support-retell': SUPPORT, 'sw-eu': SW_EU });
    expect(r.success).toBe(true);
    expect(r.data).toEqual({
      'sales-vapi': SALES,
      'support-retell': SUPPORT,
      'sw-eu': { ...SW_EU, spaceUrl: 'https://eu.signalwire.test' },
    });
  });

  it('a bad entry is refused with the account and the field named', () => {
    expect(problem('{not json')).toMatch(/must be a JSON object of provider account id -> credentials/);
    expect(problem([SALES])).toMatch(/must be a JSON object/);
    expect(problem({ 'Sales Vapi': SALES })).toMatch(/account "Sales Vapi": not a provider account id/);
    expect(problem({ a: 'key' })).toBe('account "a": must be a JSON object');
    expect(problem({ a: { apiKey: 'k' } })).toBe('account "a": provider: must be "vapi", "retell" or "signalwire"');
    expect(problem({ a: { provider: 'plivo', apiKey: 'k' } })).toBe(
      'account "a": provider: must be "vapi", "retell" or "signalwire"',
    );
    expect(problem({ a: { provider: 'twilio', authToken: 't' } })).toMatch(
      /account "a": Twilio accounts .*TWILIO_SUBACCOUNT_AUTH_TOKENS/,
    );
    expect(problem({ 'sales-vapi': { provider: 'vapi' } })).toMatch(/^account "sales-vapi": apiKey: /);
    expect(problem({ 'sales-vapi': { ...SALES, serverSecret: '  ' } })).toBe(
      'account "sales-vapi": serverSecret: must not be blank',
    );
    expect(problem({ 'sw-eu': { ...SW_EU, apiToken: undefined } })).toMatch(/^account "sw-eu": apiToken: /);
    expect(problem({ 'sw-eu': { ...SW_EU, spaceUrl: 'eu.signalwire' } })).toBe('account "sw-eu": spaceUrl: must be a URL');
    // A field of another kind is a mistake worth naming (a Retell webhook key on a Vapi account).
    expect(problem({ 'sales-vapi': { ...SALES, webhookKey: 'w' } })).toBe(
      'account "sales-vapi": unknown field(s) webhookKey for a vapi account',
    );
  });

  it('a function with a bad entry does not start, and its config_error names the variable and the account', () => {
    const lines: Array<Record<string, unknown>> = [];
    let built = false;
    composeFunction({
      name: 'scheduler-tick',
      schema: TickConfig,
      env: { ...COMPLETE, PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({ 'sales-vapi': { provider: 'vapi' } }) },
      build: () => {
        built = true;
        return async () => new Response('ok');
      },
      write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    expect(built).toBe(false);
    expect(lines[0]).toMatchObject({ event: 'config_error', variable: 'PROVIDER_ACCOUNT_CREDENTIALS' });
    expect(String(lines[0]!.message)).toContain('account "sales-vapi": apiKey');
  });

  it("an account's API URL in clear is refused unless ALLOW_INSECURE_URLS, its kind's default URL included", () => {
    const https = { ...COMPLETE, PUBLIC_FUNCTIONS_URL: 'https://example.test/functions/v1', ALLOW_INSECURE_URLS: '0' };
    const clear = { 'sales-vapi': { ...SALES, baseUrl: 'http://127.0.0.1:9' } };
    const r = TickConfig.safeParse({ ...https, PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify(clear) });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toMatch(/^account "sales-vapi": baseUrl: /);
    const viaDefault = TickConfig.safeParse({
      ...https,
      RETELL_API_BASE_URL: 'http://127.0.0.1:9',
      PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({ 'support-retell': SUPPORT }),
    });
    expect(viaDefault.success).toBe(false);
    expect(TickConfig.safeParse({ ...https, PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({ 'sales-vapi': SALES }) }).success)
      .toBe(true);
  });

  it('the logger redacts the secret fields of every entry, and only those', () => {
    const lines: string[] = [];
    composeFunction({
      name: 'call-status',
      schema: CallStatusConfig,
      env: {
        ...COMPLETE,
        PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({ 'sales-vapi': SALES, 'support-retell': SUPPORT, 'sw-eu': SW_EU }),
      },
      build: (_config, log) => {
        log.error('provider_said', {
          message: `401 for ${SALES.apiKey} ${SALES.serverSecret} ${SUPPORT.apiKey} ${SUPPORT.webhookKey} ${SW_EU.apiToken}`,
          kind: 'vapi',
          project: 'p-eu',
        });
        return async () => new Response('ok');
      },
      write: (line) => lines.push(line),
    });
    expect(lines).toHaveLength(1);
    for (const s of [SALES.apiKey, SALES.serverSecret, SUPPORT.apiKey, SUPPORT.webhookKey, SW_EU.apiToken]) {
      expect(lines[0]).not.toContain(s);
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'vapi', project: 'p-eu' });
  });
});

const COMPLETE: Record<string, string> = {
  SUPABASE_DB_URL: 'postgresql://u:p@127.0.0.1:1/db',
  PUBLIC_FUNCTIONS_URL: 'http://127.0.0.1:1/functions/v1',
  CRON_SECRET: 'cron-secret-long-enough-0123456789abcdef',
  ADMIN_TOKEN: 'admin-token-long-enough-0123456789abcdef',
  TWILIO_ACCOUNT_SID: 'AC0123',
  TWILIO_AUTH_TOKEN: 'twilio-token',
  ALLOW_INSECURE_URLS: '1',
};

describe('the adapter per (kind, account)', () => {
  const env = ProvidersEnv.parse({
    VAPI_API_KEY: 'vapi-kind-key',
    PROVIDER_ACCOUNT_CREDENTIALS: JSON.stringify({ 'sales-vapi': SALES, 'sw-eu': SW_EU }),
  });
  const named = (name: string) => ({ name, createCall: () => Promise.reject(new Error('not here')) }) as TelephonyProvider;
  const twilio = named('twilio');
  const kindVapi = named('vapi');
  const accountProviders = accountProvidersFromEnv(env, { allowInsecureUrls: false });
  const deps = { provider: twilio, providers: { vapi: kindVapi }, accountProviders };

  it("an account with an entry has its own adapter; the others use their kind's", () => {
    expect(Object.keys(accountProviders).sort()).toEqual(['sales-vapi', 'sw-eu']);
    expect(providerFor(deps, 'vapi', 'sales-vapi')).toBe(accountProviders['sales-vapi']);
    expect(providerFor(deps, 'vapi', 'sales-vapi')).not.toBe(kindVapi);
    expect(providerFor(deps, 'vapi', 'other-vapi')).toBe(kindVapi);
    expect(providerFor(deps, 'signalwire', 'sw-eu')?.name).toBe('signalwire');
    expect(providerFor(deps, 'signalwire', 'sw-us')).toBeUndefined();
    expect(providerFor(deps, 'twilio', 'default')).toBe(twilio);
    expect(allProviders(deps)).toHaveLength(4);
  });

  it("an entry of another kind than the account's is never used, and the reason says so", () => {
    expect(providerFor(deps, 'retell', 'sales-vapi')).toBeUndefined();
    const o = noAdapterOutcome('retell', 'sales-vapi', deps);
    expect(o).toMatchObject({ kind: 'permanent', campaignLevel: true, invalidNumber: false });
    expect(o.kind === 'permanent' && o.reason).toMatch(
      /credentials of provider account sales-vapi .* are for vapi, but the account is a retell account/,
    );
    const none = noAdapterOutcome('signalwire', 'sw-us', deps);
    expect(none.kind === 'permanent' && none.reason).toMatch(/no signalwire adapter is configured/);
  });
});

describe("which keys verify which account's events", () => {
  const creds = accountCredentials.parse(
    JSON.stringify({
      'sales-vapi': SALES,
      'plain-vapi': { provider: 'vapi', apiKey: 'k' }, // no server secret of its own: the kind's
      'support-retell': SUPPORT,
      'other-retell': { provider: 'retell', apiKey: 'retell-key-other' }, // its API key signs
    }),
  );
  const keys = eventKeysOf(creds, { vapi: 'vapi-kind-secret', retell: undefined });
  const equals = (presented: string) => (key: string) => Promise.resolve(key === presented);

  it('each account its own key; the kind key for the accounts without one', () => {
    expect(keys.vapi).toEqual({ kindKey: 'vapi-kind-secret', accounts: { 'sales-vapi': 'vapi-secret-sales' } });
    expect(keys.retell).toEqual({
      accounts: { 'support-retell': 'retell-webhook-support', 'other-retell': 'retell-key-other' },
    });
    expect(keys.signalwire).toEqual({ accounts: {} });
  });

  it("account A's key never moves account B's call; the kind key never moves an account's that has its own", async () => {
    const sales = await verifyWithKeys(keys.vapi, equals(SALES.serverSecret));
    expect(mayMoveCallOf(keys.vapi, sales, 'sales-vapi')).toBe(true);
    expect(mayMoveCallOf(keys.vapi, sales, 'plain-vapi')).toBe(false);
    expect(mayMoveCallOf(keys.vapi, sales, 'vapi-main')).toBe(false);
    const kind = await verifyWithKeys(keys.vapi, equals('vapi-kind-secret'));
    expect(mayMoveCallOf(keys.vapi, kind, 'sales-vapi')).toBe(false);
    expect(mayMoveCallOf(keys.vapi, kind, 'plain-vapi')).toBe(true);
    expect(mayMoveCallOf(keys.vapi, kind, 'vapi-main')).toBe(true);
    const other = await verifyWithKeys(keys.retell, equals('retell-key-other'));
    expect(mayMoveCallOf(keys.retell, other, 'other-retell')).toBe(true);
    expect(mayMoveCallOf(keys.retell, other, 'support-retell')).toBe(false);
    // The Retell kind has no key of its own here: an account without an entry has nothing to verify with.
    expect(mayMoveCallOf(keys.retell, other, 'retell-main')).toBe(false);
    expect(verifiedNothing(await verifyWithKeys(keys.vapi, equals('forged')))).toBe(true);
  });
});

describe("a SignalWire call's status callback", () => {
  it("names call-status's SignalWire path, where the signing key checks it and it applies as a signalwire call", () => {
    expect(signalWireStatusCallbackUrl('https://x.test/functions/v1/call-status?call_id=42')).toBe(
      'https://x.test/functions/v1/call-status/signalwire?call_id=42',
    );
    expect(signalWireStatusCallbackUrl('https://x.test/functions/v1/call-status/signalwire?call_id=42')).toBe(
      'https://x.test/functions/v1/call-status/signalwire?call_id=42',
    );
  });
});
