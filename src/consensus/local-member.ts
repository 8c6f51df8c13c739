import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentConfig } from '../core/agent-config.ts';
import { DATA_FILES } from '../system/data-dir.ts';
import { writeTlsFiles, type TlsFiles } from '../system/pki.ts';
import { EtcdProcess } from './etcd-process.ts';
import { LocalRaftIndex } from './quorum-rebuild.ts';

const TLS_DIR = 'tls';

/** How the member starts: a new cluster, an existing one (as a learner, a restart, a rebuild). */
export interface MemberLaunch {
  clusterState: 'new' | 'existing';
  clusterToken: string;
  initialCluster?: { name: string; peerUrl: string }[];
  tls: { caFile: string; certFile: string; keyFile: string };
  forceNewCluster?: boolean;
}

export interface LocalMemberOptions {
  config: AgentConfig;
  nodeId: string;
  etcdBinary: string;
  logger: Logger;
  clientUrl: string;
  /** etcd said this member was removed from the cluster */
  onRemoved: () => void;
}

/**
 * This node's side of etcd on disk and in processes: the member child process while this node
 * is a voter (or a learner on its way), the TLS files it and the etcd client use, its data dir,
 * and the raft index a quorum recovery compares. Consensus decides when; this does.
 */
export class LocalMember {
  etcd: EtcdProcess | undefined;
  tls: TlsFiles | undefined;
  readonly raftIndex: LocalRaftIndex;

  constructor(private readonly o: LocalMemberOptions) {
    this.raftIndex = new LocalRaftIndex(o.clientUrl);
  }

  private get dataDir(): string {
    return this.o.config.dataDir;
  }

  /** where the TLS files live (read at start, with the cluster file) */
  get tlsDir(): string {
    return join(this.dataDir, TLS_DIR);
  }

  tlsPaths() {
    const dir = this.tlsDir;
    return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key') };
  }

  /** Keeps `tls` as this node's and writes it to the data dir; the paths the member starts with. */
  async saveTls(tls: TlsFiles) {
    this.tls = tls;
    return writeTlsFiles(this.tlsDir, tls);
  }

  /** Starts the member (`waitHealthy: false`: once the process runs; see EtcdProcess.start). */
  async start(l: MemberLaunch, opts?: { waitHealthy?: boolean }): Promise<void> {
    this.etcd = this.make(l);
    await this.etcd.start(opts);
  }

  private make(l: MemberLaunch): EtcdProcess {
    const c = this.o.config;
    const etcd = new EtcdProcess({
      binary: this.o.etcdBinary,
      logger: this.o.logger.child({ component: 'etcd' }),
      tlsFiles: this.tls,
      launch: { name: this.o.nodeId, dataDir: join(this.dataDir, DATA_FILES.etcd), bind: c.bind, clientPort: c.ports.etcdClient, peerPort: c.ports.etcdPeer, ...l },
    });
    etcd.on('removed', () => this.o.onRemoved());
    return etcd;
  }

  /** Stops the member process, if one runs; `timeoutMs` as EtcdProcess.stop takes it. */
  async stop(timeoutMs?: number): Promise<void> {
    await this.etcd?.stop(timeoutMs);
    this.etcd = undefined;
  }

  /** Demoted to a client-only node: the member stops and its data goes (`keep`: aside). */
  async demote(keep: boolean): Promise<void> {
    await this.stop(2000);
    this.raftIndex.close();
    await this.dropData(keep);
  }

  /**
   * Restarts the member with etcd's --force-new-cluster: every key kept, every other member
   * dropped (a quorum recovery).
   */
  async rebuild(): Promise<void> {
    await this.stop(5000);
    this.raftIndex.close();
    await this.start({ clusterState: 'existing', clusterToken: 'warren', tls: this.tlsPaths(), forceNewCluster: true });
  }

  /** Deletes the member's data (`keep`: moves it aside, for a person who may still want it). */
  async dropData(keep = false): Promise<void> {
    const data = join(this.dataDir, DATA_FILES.etcd);
    if (keep) await rename(data, `${data}.stood-down-${Date.now()}`).catch(() => undefined);
    else await rm(data, { recursive: true, force: true });
  }

  /** Deletes the member's data and the TLS files. */
  async forget(): Promise<void> {
    await this.dropData();
    await rm(this.tlsDir, { recursive: true, force: true });
  }
}
