// Runs before each test file (vitest setupFiles): under `npm test`, the worker's own database is
// chosen (useWorkerDatabase) and held (holdWorkerDatabase: a file starts only once the process of
// the last file in that database is gone); the pg_cron jobs the migrations schedule must not fire
// during tests, so they are deactivated in the test database; and the `tests` schema of
// SQL fixtures (test/support builds through it) is installed when missing (`npm test` installs it
// once; a database started by hand may lack it).

import { installTestsSchema } from '../scripts/tests-schema.ts';
import { disableCronJobs, holdWorkerDatabase, testDbUrl, useWorkerDatabase, withClient } from './support/db.ts';

if (useWorkerDatabase()) await holdWorkerDatabase();

const hasTestsSchema = await withClient(async (client) => {
  await disableCronJobs(client);
  const { rows } = await client.query<{ ok: boolean }>(`select to_regnamespace('tests') is not null as ok`);
  return rows[0]!.ok;
});
if (!hasTestsSchema) await installTestsSchema(testDbUrl());
