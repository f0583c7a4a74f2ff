// `npm run operator -- create <name> [--role viewer|operator|admin] [--expires 30d] | list |
// revoke <id> | revoke-by-creator <created_by>`: named operator credentials of the dashboard and the
// admin API, straight in the database (DATABASE_URL, else the local database of `npm run db`). A new
// token is printed once; only its SHA-256 is stored. Its role is viewer unless --role says otherwise;
// it expires after 90 days unless --expires says otherwise (at most 365 days). A token is revoked by
// its id (the first column of `list`), never by its name. Whoever runs this holds the database, so
// acts as an admin: every create and revoke is recorded in operator_audit_log as done by cli:<user>
// with the role admin.

import os from 'node:os';
import pg from 'pg';
import { generateOperatorToken, sha256 } from '../supabase/functions/_shared/operator-auth.ts';
import {
  createOperatorToken,
  listOperatorTokens,
  revokeOperatorToken,
  revokeOperatorTokensByCreator,
} from '../supabase/functions/_shared/queries.ts';
import { OperatorRoleSchema } from '../supabase/functions/_shared/roles.ts';
import { clusterStatus } from './stack/localdb.ts';

const USAGE =
  'usage: npm run operator -- create <name> [--role viewer|operator|admin] [--expires <n>d|<n>h] | list | revoke <id> | revoke-by-creator <created_by>';

function databaseUrl(): string {
  const url = process.env.DATABASE_URL ?? clusterStatus().url;
  if (!url) throw new Error('no database: set DATABASE_URL, or start the local one with npm run db -- start');
  return url;
}

/** '30d' / '12h' -> milliseconds. */
export function parseExpiry(text: string): number {
  const m = /^([1-9][0-9]{0,4})([dh])$/.exec(text.trim());
  if (!m) throw new Error(`--expires takes <n>d or <n>h (e.g. 30d), not ${JSON.stringify(text)}`);
  return Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || !['create', 'list', 'revoke', 'revoke-by-creator'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  const who = { actor: `cli:${os.userInfo().username}`, actorTokenId: null, actorRole: 'admin' as const };
  const client = new pg.Client({ connectionString: databaseUrl(), application_name: 'operator-cli' });
  await client.connect();
  try {
    const now = new Date();
    if (command === 'list') {
      const tokens = await listOperatorTokens(client, now);
      if (tokens.length === 0) console.log('no named operator tokens (ADMIN_TOKEN is the only credential)');
      for (const t of tokens) {
        const used = t.last_used_at ? `last used ${t.last_used_at.toISOString()}` : 'never used';
        console.log(
          `${t.id}\t${t.name}\t${t.role}\t${t.state}\tcreated ${t.created_at.toISOString()} by ${t.created_by}\texpires ${t.expires_at.toISOString()}\t${used}`,
        );
      }
      return 0;
    }
    if (command === 'create') {
      const name = rest[0];
      if (!name || name.startsWith('--')) {
        console.error(USAGE);
        return 2;
      }
      const i = rest.indexOf('--expires');
      const expiresAt = i >= 0 ? new Date(now.getTime() + parseExpiry(rest[i + 1] ?? '')) : null;
      const r = rest.indexOf('--role');
      const role = OperatorRoleSchema.safeParse(r >= 0 ? rest[r + 1] : 'viewer');
      if (!role.success) {
        console.error(`--role takes viewer, operator or admin, not ${JSON.stringify(rest[r + 1])}`);
        return 2;
      }
      const token = generateOperatorToken();
      const row = await createOperatorToken(client, {
        name,
        sha256: await sha256(token),
        expiresAt,
        role: role.data,
        ...who,
        now,
      });
      console.error(`operator token ${row.id} (${row.role}) for ${row.name} created, expires ${row.expires_at.toISOString()}.`);
      console.error("It is shown once, now: give it to the operator (the dashboard's sign-in, or Authorization: Bearer).");
      console.log(token);
      return 0;
    }
    const which = rest[0];
    if (!which) {
      console.error(USAGE);
      return 2;
    }
    if (command === 'revoke-by-creator') {
      const rows = await revokeOperatorTokensByCreator(client, { creator: which, ...who, now });
      for (const t of rows) console.log(`revoked operator token ${t.id} (${t.name}, made by ${t.created_by})`);
      console.error(`${rows.length} live token(s) made by ${which} (or by the tokens it made) revoked`);
      return 0;
    }
    if (!/^[1-9][0-9]{0,17}$/.test(which)) {
      console.error(`revoke takes a token's id (the first column of list), never its name: ${JSON.stringify(which)}`);
      return 2;
    }
    const row = await revokeOperatorToken(client, { id: which, ...who, now });
    if (!row) {
      console.error(`no live operator token with id ${which}`);
      return 1;
    }
    console.log(`revoked operator token ${row.id} (${row.name}) at ${row.revoked_at.toISOString()}`);
    return 0;
  } finally {
    await client.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
