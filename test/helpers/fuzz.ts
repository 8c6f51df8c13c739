import fc from 'fast-check';
import { prng } from './prng.ts';

/**
 * Fuzzing with fast-check, seeded: every run of the suite draws the same inputs, and FUZZ_SEED=N
 * draws others (to explore, or to replay a failure printed by another run).
 */
export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 20261203;

/** A property's own seed, from the base seed and its name (each property replays on its own). */
export function seedFor(name: string): number {
  let h = FUZZ_SEED ^ 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return Math.floor(prng(h >>> 0)() * 2 ** 31);
}

/** Runs a property; a failure names the base seed to replay it with, and fast-check's counterexample. */
export async function fuzz<T>(name: string, property: fc.IProperty<T> | fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  const seed = seedFor(name);
  try {
    await fc.assert(property as fc.IAsyncProperty<T>, { seed, numRuns, endOnFailure: false });
  } catch (err) {
    (err as Error).message = `fuzz "${name}" failed: replay with FUZZ_SEED=${FUZZ_SEED} (property seed ${seed})\n${(err as Error).message}`;
    throw err;
  }
}
