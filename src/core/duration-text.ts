/** Durations as people type them: numbers with units, several in a row (`90s`, `1h30m`, `7d`, `500ms`). */

export const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 } as const;
export type DurationUnit = keyof typeof DURATION_UNITS_MS;

/** Milliseconds of `text` written with `units` only; undefined when malformed or past a safe integer. */
export function parseUnitDuration(text: string, units: readonly DurationUnit[]): number | undefined {
  // longest first: `ms` must not be read as `m` followed by junk
  const alt = [...units].sort((a, b) => b.length - a.length).join('|');
  const s = text.trim().toLowerCase();
  if (!new RegExp(`^(\\d+(${alt}))+$`).test(s)) return undefined;
  let ms = 0;
  for (const [, n, unit] of s.matchAll(new RegExp(`(\\d+)(${alt})`, 'g'))) ms += Number(n) * DURATION_UNITS_MS[unit as DurationUnit];
  return Number.isSafeInteger(ms) ? ms : undefined;
}
