// Runs before each test file (vitest setupFiles): the pg_cron jobs the migrations schedule must not
// fire during tests, so they are deactivated in the shared test database; and the `tests` schema of
// SQL fixtures (test/support builds through it) is installed when missing (`npm test` installs it
// once; a database started by hand may lack it).

import { installTestsSchema } from '../scripts/tests-schema.ts';
import { disableCronJobs, testDbUrl, withClient } from './support/db.ts';

const hasTestsSchema = await withClient(async (client) => {
  await disableCronJobs(client);
  const { rows } = await client.query<{ ok: boolean }>(`select to_regnamespace('tests') is not null as ok`);
  return rows[0]!.ok;
});
if (!hasTestsSchema) await installTestsSchema(testDbUrl());
