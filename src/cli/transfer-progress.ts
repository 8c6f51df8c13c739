import { formatBytes } from '../core/format-bytes.ts';
import type { Transfer } from '../runtime/volume-replicate.ts';
import type { ApiClient } from './client.ts';

/** One line for a volume's pushes under way: each peer's bytes sent of those it asked for. */
export function renderTransfers(transfers: Pick<Transfer, 'name' | 'sentBytes' | 'totalBytes'>[]): string {
  if (transfers.length === 0) return 'sending to its peers...';
  const each = transfers.map((t) => {
    const pct = t.totalBytes > 0 ? ` (${Math.min(100, Math.floor((t.sentBytes / t.totalBytes) * 100))}%)` : '';
    return `${t.name} ${formatBytes(t.sentBytes, ' ')} of ${formatBytes(t.totalBytes, ' ')}${pct}`;
  });
  return `sending to ${each.join(', ')}`;
}

/**
 * While a snapshot is pushed (`warren volume snapshot`), shows the owner's transfers of the volume
 * on stderr every `everyMs` when it is a terminal (nothing otherwise). Returns the stop, which
 * clears the line.
 */
export function showTransfers(client: ApiClient, volume: string, out: NodeJS.WriteStream = process.stderr, everyMs = 300): () => void {
  if (!out.isTTY) return () => undefined;
  let stopped = false;
  let asking = false;
  const timer = setInterval(() => {
    if (asking) return;
    asking = true;
    client
      .get<{ transfers: Transfer[] }>(`/v1/volumes/${encodeURIComponent(volume)}/transfers`)
      .then((body) => {
        if (!stopped) out.write(`\r${renderTransfers(body.transfers)}\x1b[K`);
      })
      .catch(() => undefined) // progress only: the snapshot's own answer says what happened
      .finally(() => (asking = false));
  }, everyMs);
  return () => {
    stopped = true;
    clearInterval(timer);
    out.write('\r\x1b[K');
  };
}
