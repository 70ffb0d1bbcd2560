// A small seeded PRNG (mulberry32), so one seed gives the simulator and the load the same dice in
// every scenario of a benchmark: the runs differ by the upgrade, not by luck.
export type Random = () => number;

export function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A value drawn uniformly from [min, max]. */
export const between = (random: Random, min: number, max: number) => min + random() * (max - min);

/** A seed for one named draw (FNV-1a of the name, mixed with the run's seed), so that draws do not depend on their order. */
export function seedFor(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}
