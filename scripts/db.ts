// `npm run db -- start|stop|status|psql|url|reset`: the persistent local database in .local/pg.
// start: start (or reuse) it, shape it like Supabase, push migrations, print its URL.

import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  bootstrapSupabaseShape,
  clusterStatus,
  persistentDir,
  pgInstall,
  pushMigrations,
  startLocalDb,
  stopCluster,
} from './stack/localdb.ts';

const dir = persistentDir();
const dataDir = path.join(dir, 'data');
const [command = 'status', ...rest] = process.argv.slice(2);

function running(): string {
  const s = clusterStatus();
  if (!s.url) throw new Error('the local database is not running: npm run db -- start');
  return s.url;
}

switch (command) {
  case 'start': {
    const db = await startLocalDb({ persistent: true });
    await bootstrapSupabaseShape(db.url);
    await pushMigrations(db.url);
    console.log(db.url);
    break;
  }
  case 'stop':
    console.log((await stopCluster(dataDir)) ? 'stopped' : 'not running');
    break;
  case 'status': {
    const s = clusterStatus();
    console.log(s.running ? `running: ${s.url}` : 'not running');
    break;
  }
  case 'url':
    console.log(running());
    break;
  case 'psql': {
    const r = spawnSync(path.join(pgInstall().bindir, 'psql'), [running(), ...rest], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
    break;
  }
  case 'reset':
    await stopCluster(dataDir);
    await rm(dir, { recursive: true, force: true });
    console.log(`wiped ${dir}; npm run db -- start creates it afresh`);
    break;
  default:
    console.error('usage: npm run db -- start|stop|status|psql|url|reset');
    process.exitCode = 2;
}
