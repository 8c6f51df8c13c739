import { ChunkStore, CorruptChunk } from './chunk-store.ts';
import { pacer } from './pacer.ts';

export interface ScrubResult {
  /** chunks re-read and re-hashed */
  checked: number;
  bytes: number;
  /** chunks whose bytes no longer match their name (or could not be read whole): dropped from the index */
  bad: string[];
}

/**
 * Re-reads and re-hashes every chunk the store holds (a disk's silent bit rot shows up here, not
 * on the day a failover needs the chunk). Bad ones are forgotten (ChunkStore.forget): they are
 * missing from then on, to be fetched again from a peer or stored again by the next snapshot.
 * Paced: the agent's event loop gets its turns. A chunk a gc removed meanwhile is skipped.
 */
export async function scrubChunks(chunks: ChunkStore): Promise<ScrubResult> {
  const out: ScrubResult = { checked: 0, bytes: 0, bad: [] };
  const pace = pacer();
  for (const hash of [...chunks.hashes()]) {
    await pace();
    if (!chunks.has(hash)) continue;
    try {
      out.bytes += chunks.get(hash).length;
      out.checked++;
    } catch (err) {
      if (!(err instanceof CorruptChunk)) throw err;
      if (!chunks.has(hash)) continue;
      out.checked++;
      out.bad.push(hash);
    }
  }
  chunks.forget(out.bad);
  return out;
}
