import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that run longest, longest first (seconds of vitest's own file duration in a run of
 * `npm test`, docs/TESTING.md). `npm test` runs files in parallel workers, and a run takes at least
 * as long as its last file to start plus that file's own time: the long ones must start first.
 * vitest orders files by the durations it cached from the previous run; a fresh clone (CI) has no
 * cache and vitest would order by file size, which starts the load test (a short file) near the end.
 */
const LONGEST_FIRST = [
  // vitest's file durations in one `npm test` on a 2-core machine that other work kept busy (load
  // average 3 to 9), after the load test went down to 10,000 calls.
  'test/reliability/state-machine.property.test.ts', // 121 s
  'test/reliability/continuous-dispatch.property.test.ts', // 57 s
  'test/reliability/load.test.ts', // 55 s
  'test/db/calling-hours-rules.property.test.ts', // 49 s
  'test/reliability/crash.test.ts', // 48 s
  'test/functions/scheduler-tick.test.ts', // 44 s
  'test/reliability/pooler.test.ts', // 33 s
  'test/functions/schema-change-under-load.test.ts', // 31 s
  'test/db/launch-properties.test.ts', // 30 s
  'test/operator/campaign-api.test.ts', // 29 s
  'test/e2e/start.test.ts', // 29 s
  'test/vercel/built-output.test.ts', // 27 s
  'test/functions/continuous-dispatch.test.ts', // 25 s
  'test/security/public-defaults.test.ts', // 24 s
  'test/e2e/dashboard.test.ts', // 20 s
  'test/e2e/dashboard-accessibility.test.ts', // 18 s
];

/**
 * Longest first: by the durations of vitest's cache when it has one for every file, else the files
 * of LONGEST_FIRST in that order, then the others largest first. Unlike vitest's own order, a file
 * that failed last time is not moved to the front (that is for quick feedback; here the whole run
 * counts).
 */
class LongestFirst extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const key = (f: TestSpecification) => `${f.project.name}:${path.relative(root, f.moduleId)}`;
    const cached = files.map((f) => this.ctx.cache.getFileTestResults(key(f))?.duration);
    if (cached.every((d) => d !== undefined)) {
      const duration = new Map(files.map((f, i) => [f, cached[i]!]));
      return Promise.resolve([...files].sort((a, b) => duration.get(b)! - duration.get(a)!));
    }
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(path.relative(root, f.moduleId).split(path.sep).join('/'));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    const size = (f: TestSpecification) => this.ctx.cache.getFileStats(key(f))?.size ?? 0;
    return Promise.resolve([...files].sort((a, b) => rank(a) - rank(b) || size(b) - size(a)));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // The files share one database and truncate its tables between tests: one file at a time.
    fileParallelism: false,
    pool: 'forks',
    // One process per worker for all the files it runs (not one per file): a file's start costs
    // about 2 s of CPU for a fresh process and its imports, and a whole run was CPU-bound on 2 cores
    // (docs/TESTING.md). So each file must stop what it starts (its gateways, pools, servers and
    // background work) in its afterAll, which every file does; setup.ts runs again for each file.
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    sequence: { sequencer: LongestFirst },
  },
});
