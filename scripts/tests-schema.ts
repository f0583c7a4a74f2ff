// The `tests` schema of SQL fixtures (supabase/tests/_fixtures/tests_schema.psql): installed once
// after the migrations by `npm test`, and by `npm run bench` on its throwaway cluster. Not a
// migration: a deployed project never has it.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const TESTS_SCHEMA_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'supabase',
  'tests',
  '_fixtures',
  'tests_schema.psql',
);

/** (Re)creates schema tests from TESTS_SCHEMA_FILE in the database at url. */
export async function installTestsSchema(url: string): Promise<void> {
  const sql = await readFile(TESTS_SCHEMA_FILE, 'utf8');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('begin');
    await client.query('drop schema if exists tests cascade');
    await client.query(sql);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
