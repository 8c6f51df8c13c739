import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFinalStopMarker, type FinalStopMarker } from '../core/membership/final-stop.ts';

/** The marker `warren leave --at-stop` leaves in the data dir (core/membership/final-stop.ts says why). */
export const FINAL_STOP_FILE = 'final-stop.json';

export async function writeFinalStopMarker(dataDir: string, now = Date.now()): Promise<void> {
  await writeFile(join(dataDir, FINAL_STOP_FILE), JSON.stringify({ at: now }) + '\n', { mode: 0o600 });
}

export async function readFinalStopMarker(dataDir: string): Promise<FinalStopMarker | undefined> {
  return parseFinalStopMarker(await readFile(join(dataDir, FINAL_STOP_FILE), 'utf8').catch(() => undefined));
}
