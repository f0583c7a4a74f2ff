// Runs before each test file (vitest setupFiles): the pg_cron jobs the migrations schedule must not
// fire during tests, so they are deactivated in the shared test database.

import { disableCronJobs, withClient } from './support/db.ts';

await withClient(disableCronJobs);
