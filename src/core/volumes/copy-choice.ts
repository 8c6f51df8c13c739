/**
 * Which node's copy a failover runs on. A copy is named by its snapshot's (epoch, seq): the owner
 * epoch goes up each time the volume changes owner, seq each snapshot within an epoch. An older
 * epoch never wins, whatever its seq: an old owner that was cut off may have taken many snapshots
 * nobody else saw, and they must not overwrite the lineage the new owner continued.
 */

export interface CopyState {
  node: string;
  alive: boolean;
  epoch: number;
  seq: number;
  /** every chunk of the snapshot arrived and was fsynced (a half-received snapshot is not a copy) */
  complete: boolean;
}

export type CopyChoice =
  | { kind: 'use'; node: string; epoch: number; seq: number; /** a dead node holds a newer copy */ behind: boolean }
  | { kind: 'wait'; reason: string };

export function newer(a: { epoch: number; seq: number }, b: { epoch: number; seq: number }): boolean {
  return a.epoch !== b.epoch ? a.epoch > b.epoch : a.seq > b.seq;
}

/** The newest snapshot of a lineage by (epoch, seq); a record without an epoch is of epoch 0. */
export function newestSnapshot<T extends { epoch?: number; seq: number }>(list: readonly T[]): T | undefined {
  const at = (r: T) => ({ epoch: r.epoch ?? 0, seq: r.seq });
  return list.reduce<T | undefined>((a, b) => (!a || newer(at(b), at(a)) ? b : a), undefined);
}

/**
 * The live node with the newest complete copy (ties: the preferred node, e.g. where the service
 * already runs, else the lowest node id, so every planner picks the same). `currentEpoch` is the
 * volume's epoch in etcd: a copy claiming a later one is not trusted. With `waitForNewest`, a dead
 * node holding a newer copy than any live one makes the choice wait instead of losing writes.
 */
export function chooseCopy(copies: CopyState[], currentEpoch: number, opts: { prefer?: string; waitForNewest?: boolean } = {}): CopyChoice {
  const valid = copies.filter((c) => c.complete && c.epoch <= currentEpoch);
  if (valid.length === 0) return { kind: 'wait', reason: copies.length ? 'no complete copy of this volume' : 'no copy of this volume' };
  const best = (list: CopyState[]) => list.reduce((a, b) => {
    if (newer(b, a)) return b;
    if (newer(a, b)) return a;
    if (opts.prefer === b.node) return b;
    if (opts.prefer === a.node) return a;
    return b.node < a.node ? b : a;
  });
  const live = valid.filter((c) => c.alive);
  const newestAnywhere = best(valid);
  if (live.length === 0) return { kind: 'wait', reason: `no live node holds a copy (newest on ${newestAnywhere.node}, down)` };
  const pick = best(live);
  const behind = newer(newestAnywhere, pick);
  if (behind && opts.waitForNewest) return { kind: 'wait', reason: `the newest copy is on ${newestAnywhere.node}, down` };
  return { kind: 'use', node: pick.node, epoch: pick.epoch, seq: pick.seq, behind };
}
