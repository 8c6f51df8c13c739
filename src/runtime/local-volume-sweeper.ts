/**
 * This node's side of `stack rm --volumes` for per-node Docker volumes (the plan:
 * core/compose/local-volume-removal.ts): each reconcile pass removes the Docker volumes whose
 * order names this node, once no container uses them, and acks each in etcd; the last ack of an
 * order deletes it. What is left to remove here holds back the replicas that would mount it.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { KEYS } from '../consensus/cluster-store.ts';
import { ackKey, orderSettled, volumesToRemove, type LocalVolumeRemovalAck } from '../core/compose/local-volume-removal.ts';
import { messageOf } from '../core/errors.ts';
import { valuesOf, type Catalog } from './catalog.ts';
import type { DockerEngine } from './docker-engine.ts';
import { monoNow } from '../system/clock.ts';

/** How long an answered order stays (for the report of the node that took the command). */
const SETTLED_KEEP_MS = 10_000;

export interface LocalVolumeSweeperDeps {
  engine: DockerEngine;
  catalog: Catalog;
  client: () => Etcd3 | undefined;
  logger: Logger;
}

export class LocalVolumeSweeper {
  /** removed here, ack not yet written (etcd did not answer): acked as removed on a later pass */
  private readonly removedUnacked = new Set<string>();
  /** volumes last seen in use, so the wait is logged once per volume, not every pass */
  private readonly inUse = new Set<string>();
  /** order id → when this node first saw every node's answer (mono ms) */
  private readonly settledSince = new Map<string, number>();

  constructor(private readonly d: LocalVolumeSweeperDeps) {}

  /** Removes what can be removed now, and deletes the orders every node has answered; the volumes still to remove here. */
  async sweep(nodeId: string): Promise<Set<string>> {
    const { localVolumeRemovals: orders, localVolumeAcks: acks } = this.d.catalog.maps;
    const left = new Set<string>();
    for (const volume of volumesToRemove(nodeId, valuesOf(orders), valuesOf(acks))) {
      const order = orders.get(volume)!;
      const done = `${volume}@${order.value.id}`;
      const removed = this.removedUnacked.has(done) || (await this.remove(volume));
      if (removed === undefined) {
        left.add(volume);
        continue;
      }
      this.inUse.delete(volume);
      if (removed) this.removedUnacked.add(done);
      if (await this.ack(volume, nodeId, { order: order.value.id, removed }, order.modRevision)) this.removedUnacked.delete(done);
      else left.add(volume);
    }
    await this.settle();
    return left;
  }

  /**
   * Deletes the orders every named node still registered has answered, with their acks, a while
   * after this node first saw them answered (the node that took the command reports the acks
   * from its catalog meanwhile). Any node may: the delete is conditional.
   */
  private async settle(): Promise<void> {
    const client = this.d.client();
    const { localVolumeRemovals: orders, localVolumeAcks: acks, nodes } = this.d.catalog.maps;
    if (!client || orders.size === 0) return this.settledSince.clear();
    const registered = new Set(nodes.keys());
    const ackValues = valuesOf(acks);
    const now = monoNow();
    for (const [volume, order] of orders) {
      if (!orderSettled(volume, order.value, ackValues, registered)) continue;
      const since = this.settledSince.get(order.value.id) ?? now;
      this.settledSince.set(order.value.id, since);
      if (now - since < SETTLED_KEEP_MS) continue;
      this.settledSince.delete(order.value.id);
      const key = KEYS.localVolumeRemovalPrefix + volume;
      await client.if(key, 'Mod', '==', order.modRevision).then(client.delete().key(key), client.delete().prefix(`${KEYS.localVolumeAckPrefix}${volume}/`)).commit()
        .catch((err: unknown) => this.d.logger.debug({ volume, err: messageOf(err) }, 'deleting a settled volume removal failed; trying again'));
    }
  }

  /** true: removed; false: there was none; undefined: not now (in use, or Docker failed) */
  private async remove(volume: string): Promise<boolean | undefined> {
    try {
      await this.d.engine.docker.getVolume(volume).remove();
      this.d.logger.info({ volume }, 'removed a stack\'s Docker volume (stack rm --volumes)');
      return true;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) return false;
      if (status === 409) {
        if (!this.inUse.has(volume)) this.d.logger.info({ volume }, 'a removed stack\'s Docker volume is still in use here; removing it once its containers are gone');
        this.inUse.add(volume);
      } else {
        this.d.logger.warn({ volume, err: messageOf(err) }, 'removing a stack\'s Docker volume failed; trying again');
      }
      return undefined;
    }
  }

  /** Writes this node's ack while the order is the one answered (a new stack rm --volumes may have replaced it). False: etcd did not take it. */
  private async ack(volume: string, nodeId: string, ack: LocalVolumeRemovalAck, orderRevision: string): Promise<boolean> {
    const client = this.d.client();
    if (!client) return false;
    try {
      const res = await client.if(KEYS.localVolumeRemovalPrefix + volume, 'Mod', '==', orderRevision).then(client.put(KEYS.localVolumeAckPrefix + ackKey(volume, nodeId)).value(JSON.stringify(ack))).commit();
      return res.succeeded;
    } catch (err) {
      this.d.logger.debug({ volume, err: messageOf(err) }, 'writing a volume removal\'s ack failed; trying again');
      return false;
    }
  }
}
