/**
 * `stack rm --volumes` of a stack's per-node Docker volumes (`x-warren: {local: true}`, external
 * volumes are never removed, legacy ones): every node that may hold one removes its own. Pure.
 *
 * The removal is an order in etcd per volume naming the nodes that were members when it was
 * given; each of them removes its Docker volume of that name once no container uses it and
 * answers with an ack naming the order. A node that was down does it when it is back, before it
 * starts any container on that volume (the reconciler holds such replicas), so a stack deployed
 * again meanwhile never gets the old data there; a node that joined later is not named and never
 * touches a volume of that name. Once every named node that is still registered has answered,
 * the order and its acks are deleted. No clocks are compared: the order's id ties an ack to it.
 */
import type { NodeState } from '../views.ts';

export interface LocalVolumeRemoval {
  /** ties the acks to this order (a later `stack rm --volumes` of the same name is a new one) */
  id: string;
  stack: string;
  /** when it was given (wall clock, for people) */
  at: number;
  /** the node whose API took the command */
  by: string;
  /** the nodes that remove their volume of this name: the members when the order was given */
  nodes: string[];
}

export interface LocalVolumeRemovalAck {
  order: string;
  /** false: the node had no such volume */
  removed: boolean;
}

/** The acks' key: "<volume>/<node>". */
export const ackKey = (volume: string, node: string) => `${volume}/${node}`;

type Orders = ReadonlyMap<string, LocalVolumeRemoval>;
type Acks = ReadonlyMap<string, LocalVolumeRemovalAck>;

/** Has `node` answered the volume's current order? */
const answered = (volume: string, order: LocalVolumeRemoval, node: string, acks: Acks) => acks.get(ackKey(volume, node))?.order === order.id;

/** The volumes `node` still has to remove (it is named in their order and has not answered it). */
export function volumesToRemove(node: string, orders: Orders, acks: Acks): string[] {
  return [...orders].filter(([v, o]) => o.nodes.includes(node) && !answered(v, o, node, acks)).map(([v]) => v).sort();
}

/** Every named node still registered has answered: the order and its acks can go. */
export function orderSettled(volume: string, order: LocalVolumeRemoval, acks: Acks, registered: ReadonlySet<string>): boolean {
  return order.nodes.every((n) => !registered.has(n) || answered(volume, order, n, acks));
}

/**
 * Why a replica that mounts these Docker volumes may not start on this node yet: one of them is
 * still to be removed here (its old data must not reach a stack deployed again). Undefined: it may.
 */
export function removalHold(mounts: readonly { name: string }[] | undefined, pendingHere: ReadonlySet<string>): string | undefined {
  const waiting = (mounts ?? []).map((m) => m.name).filter((n) => pendingHere.has(n));
  if (waiting.length === 0) return undefined;
  return `waiting for the old volume${waiting.length > 1 ? 's' : ''} ${waiting.join(', ')} to be removed from this node (stack rm --volumes)`;
}

export interface RemovalProgress {
  /** every named node that is up has answered (those down answer when they are back) */
  done: boolean;
  /** volume → the named nodes that have removed theirs */
  removedOn: Record<string, string[]>;
  /** per volume, the named nodes that have not answered yet, and whether gossip has them up */
  pending: { volume: string; nodes: { node: string; state: NodeState | 'unknown' }[] }[];
}

/**
 * Where `stack rm --volumes` stands for `volumes`, from the orders and acks. `self` counts as
 * up; an order that is gone was settled (every node answered).
 */
export function removalProgress(
  volumes: readonly string[],
  orders: Orders,
  acks: Acks,
  liveness: Readonly<Record<string, { state: NodeState } | undefined>>,
  self: string,
): RemovalProgress {
  const removedOn: Record<string, string[]> = {};
  const pending: RemovalProgress['pending'] = [];
  let done = true;
  for (const v of volumes) {
    const order = orders.get(v);
    if (!order) continue;
    removedOn[v] = order.nodes.filter((n) => answered(v, order, n, acks) && acks.get(ackKey(v, n))!.removed).sort();
    const left = order.nodes.filter((n) => !answered(v, order, n, acks)).sort();
    if (left.length === 0) continue;
    const nodes = left.map((n) => ({ node: n, state: n === self ? ('alive' as const) : (liveness[n]?.state ?? ('unknown' as const)) }));
    if (nodes.some((n) => n.state === 'alive')) done = false;
    pending.push({ volume: v, nodes });
  }
  return { done, removedOn, pending };
}
