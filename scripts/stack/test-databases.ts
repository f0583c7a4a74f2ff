// One database per parallel test runner, all in one cluster: `npm test` migrates the cluster's
// `postgres` database once, copies it into a template (with the `tests` schema of SQL fixtures),
// and creates from that template a database for each pgTAP job and each vitest worker. CREATE
// DATABASE ... TEMPLATE copies files, so a migrated database costs a fraction of a second instead
// of a cluster start and a `supabase db push`. The suites truncate tables, so two runners never
// share a database; they share the cluster, its roles and PgBouncer (whose `*` entry maps any
// database name through).

import { withPgClient } from './processes.ts';

/** The same connection URL with another database name. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The database name of a connection URL (`postgres` when it names none). */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const OBJECT_IN_USE = '55006';

/**
 * Copies the database at url into a new database `template` and returns its URL. CREATE DATABASE
 * needs its source to itself, and pg_cron's launcher stays connected to the database it serves
 * (this one): the other sessions on it are ended first. pg_cron's launcher does not come back
 * (it exits cleanly), so pg_cron runs no job in this cluster afterwards; the suites switch its
 * jobs off anyway, and it would only ever run them in this source database, which no runner uses.
 * For throwaway clusters only.
 */
export async function snapshotDatabase(url: string, template: string): Promise<string> {
  const source = databaseName(url);
  // From a session on template1 (every cluster has it): the source must have no session at all.
  await withPgClient(databaseUrl(url, 'template1'), async (c) => {
    await c.query(`drop database if exists ${quoteIdent(template)}`);
    for (let attempt = 1;; attempt++) {
      await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [source]);
      try {
        await c.query(`create database ${quoteIdent(template)} template ${quoteIdent(source)}`);
        return;
      } catch (err) {
        // Someone connected between the terminate and the copy (CREATE DATABASE waits 5 s for
        // sessions to leave, then gives up): end them again.
        if ((err as { code?: string }).code !== OBJECT_IN_USE || attempt >= 10) throw err;
      }
    }
  });
  return databaseUrl(url, template);
}

/**
 * Creates (re-creates) each of `names` from the template database at templateUrl; returns their
 * URLs in order. No session may be connected to the template meanwhile.
 */
export async function cloneDatabases(templateUrl: string, names: string[]): Promise<string[]> {
  const template = databaseName(templateUrl);
  await withPgClient(databaseUrl(templateUrl, 'template1'), async (c) => {
    for (const name of names) {
      await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      await c.query(`create database ${quoteIdent(name)} template ${quoteIdent(template)}`);
    }
  });
  const urls = names.map((name) => databaseUrl(templateUrl, name));
  // The copied cron.job rows name the database the migrations ran in; a copy is to look as if they
  // had run in it (the pgTAP suite checks that the jobs run "in this database").
  for (const url of urls) {
    await withPgClient(url, (c) =>
      c.query(`
        do $jobs$
        begin
          if to_regclass('cron.job') is not null then
            update cron.job set database = current_database() where database is distinct from current_database();
          end if;
        end
        $jobs$`));
  }
  return urls;
}

/** Environment variable naming, for vitest, the database prefix of its workers (see workerDatabaseUrl). */
export const WORKER_DATABASE_PREFIX_ENV = 'TEST_WORKER_DATABASE_PREFIX';

/** The name of vitest worker n's database (n from 1, as VITEST_POOL_ID counts). */
export function workerDatabase(prefix: string, n: number): string {
  return `${prefix}${n}`;
}
