// The dispatch benchmark's campaigns sit in a zone where it is early afternoon whenever it runs: its
// numbers have no zone data, so the shipped every-number calling-hours rules (08:00-21:00) are checked
// in the campaigns' zone, and in UTC the bench reserved nothing from 21:00 to 08:00 UTC.

import { describe, expect, it } from 'vitest';
import { afternoonZone } from '../scripts/bench/dispatch.ts';

describe('the dispatch benchmark', () => {
  it('puts its campaigns where it is 13:00-13:59, at every hour of the day', () => {
    for (let h = 0; h < 24; h++) {
      for (const minute of [0, 59]) {
        const at = new Date(Date.UTC(2026, 11, 6, h, minute, 30));
        const zone = afternoonZone(at);
        const local = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(at);
        expect({ h, zone, local }).toEqual({ h, zone, local: '13' });
      }
    }
  });
});
