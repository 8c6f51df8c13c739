import { UserError } from '../core/errors.ts';
import type { TlsFiles } from '../system/pki.ts';
import { ClusterStore } from './cluster-store.ts';
import { createEtcdClient } from './etcd-client.ts';
import type { EtcdSession } from './etcd-session.ts';
import { monoNow } from '../system/clock.ts';

/*
 * Steps of a voter leaving its seat, by hand (warren leave) or removed by the leader, asked of
 * the other voters: this node's own etcd member goes away with the seat.
 */

/**
 * A voter's half of warren leave, before it leaves the registry (a client-only node, or the last
 * node, has no seat to hand over): it marks itself leaving and gives up leadership; the leader
 * promotes a client-only node if there is one, then removes this member from etcd.
 */
export async function handSeatOver(o: { session: EtcdSession; store: ClusterStore; selfId: string; tls: TlsFiles; peerUrl: string; removed: () => boolean; timeoutMs: number; onProgress: (msg: string) => void }): Promise<void> {
  const others = o.session.nodes.filter((n) => n.id !== o.selfId);
  const me = await o.store.node(o.selfId);
  if (!me || o.session.memberRole !== 'voter' || others.length === 0) return;
  await o.store.putNode({ ...me, leaving: true });
  o.onProgress('handing this voter seat over');
  await o.session.stopLeader();
  const voterUrls = others.filter((n) => n.role === 'voter').map((n) => n.clientUrl);
  await waitForSeatHandedOver({ voterUrls, tls: o.tls, peerUrl: o.peerUrl, removed: o.removed, timeoutMs: o.timeoutMs });
  o.onProgress('seat handed over');
}

/**
 * Waits until etcd no longer lists this voter's member (or `removed` says its etcd learnt it was
 * removed); a UserError after `timeoutMs`.
 */
export async function waitForSeatHandedOver(o: { voterUrls: string[]; tls: TlsFiles; peerUrl: string; removed: () => boolean; timeoutMs: number }): Promise<void> {
  const watcher = createEtcdClient({ endpoints: o.voterUrls, tls: o.tls });
  const deadline = monoNow() + o.timeoutMs;
  try {
    for (;;) {
      if (o.removed()) break;
      const members = await watcher.cluster.memberList({} as never).then((r) => r.members ?? [], () => undefined);
      if (members && !members.some((m) => (m.peerURLs ?? []).includes(o.peerUrl))) break;
      if (monoNow() > deadline) throw new UserError('leave_timeout', 'the cluster did not take the seat of this voter over in time; try again, or stop the agent (it is replaced once it is dead)', 504);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    watcher.close();
  }
}

/**
 * Whether the registry, asked of the voters at `urls`, lists node `id` as a client-only node
 * (then its removal from etcd was a demotion, or its seat was given away while it was down).
 * False when they do not answer within ten tries.
 */
export async function listedAsClient(urls: string[], tls: TlsFiles, id: string): Promise<boolean> {
  const probe = createEtcdClient({ endpoints: urls, tls });
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      const me = await new ClusterStore(probe).node(id).then((n) => n ?? null, () => undefined);
      if (me !== undefined) return me !== null && me.role === 'client';
      await new Promise((r) => setTimeout(r, 300));
    }
    return false;
  } finally {
    probe.close();
  }
}
