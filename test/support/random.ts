// Seeded randomness, so that a failing race or scenario replays from its seed.

import { createRng } from '../../scripts/twilio-sim/core.ts';

/** mulberry32: a small deterministic PRNG returning numbers in [0, 1) (the simulator's own). */
export const seededRandom = createRng;

/** An integer in [min, max]. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
