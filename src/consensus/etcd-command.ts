import { urlHost } from '../core/addresses.ts';

export interface EtcdMemberUrls {
  name: string;
  peerUrl: string;
}

export interface EtcdLaunch {
  /** etcd member name: the node id, stable across renames */
  name: string;
  dataDir: string;
  bind: string;
  clientPort: number;
  peerPort: number;
  /** 'new' founds a cluster; 'existing' joins one (see the admission protocol) */
  clusterState: 'new' | 'existing';
  /** every member, this one included; defaults to this member alone */
  initialCluster?: EtcdMemberUrls[];
  clusterToken: string;
  /** TLS for client and peer traffic, with client certificates required on both */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** rebuild a one-member cluster from this member's data (quorum recovery); for one start only */
  forceNewCluster?: boolean;
}

export function etcdClientUrl(bind: string, port: number, tls = true): string {
  return `${tls ? 'https' : 'http'}://${urlHost(bind)}:${port}`;
}

export function etcdPeerUrl(bind: string, port: number, tls = true): string {
  return `${tls ? 'https' : 'http'}://${urlHost(bind)}:${port}`;
}

/** The etcd 3.4 command line for one member. Pure, so it is unit-tested. */
export function buildEtcdArgs(l: EtcdLaunch): string[] {
  const clientUrl = etcdClientUrl(l.bind, l.clientPort, l.tls !== undefined);
  const peerUrl = etcdPeerUrl(l.bind, l.peerPort, l.tls !== undefined);
  const tls = l.tls
    ? [
        '--client-cert-auth=true', '--trusted-ca-file', l.tls.caFile, '--cert-file', l.tls.certFile, '--key-file', l.tls.keyFile,
        '--peer-client-cert-auth=true', '--peer-trusted-ca-file', l.tls.caFile, '--peer-cert-file', l.tls.certFile, '--peer-key-file', l.tls.keyFile,
        // peers are still verified against the cluster CA; the SAN check would compare the cert with
        // the connection's source address, which on multi-homed machines is not the advertised one
        '--experimental-peer-skip-client-san-verification=true',
      ]
    : [];
  const members = l.initialCluster ?? [{ name: l.name, peerUrl }];
  return [
    '--name', l.name,
    '--data-dir', l.dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', members.map((m) => `${m.name}=${m.peerUrl}`).join(','),
    '--initial-cluster-state', l.clusterState,
    '--initial-cluster-token', l.clusterToken,
    // JSON logs on stderr so the agent can re-log them at debug level
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    // keep the store small on small machines
    '--auto-compaction-mode', 'periodic',
    '--auto-compaction-retention', '1h',
    // a member back from a partition asks before it campaigns: with its higher term it otherwise
    // deposes a healthy leader, and the election left the majority without a quorum for ~3 s
    '--pre-vote=true',
    // etcd refuses any membership change until every voter has been connected for 5 s; growing
    // from 1 to 3 voters then spends 5 s with 2 voters, where one death loses the quorum. Warren
    // only adds learners (which never count towards the quorum) and removes voters the planner
    // has checked, so the check protects nothing here: without it the window is ~1 s
    '--strict-reconfig-check=false',
    // the clients ping every 2 s (etcd-client.ts KEEPALIVE_MS) to find a member cut off by a
    // partition; etcd's default would answer pings more often than every 5 s with a GOAWAY
    '--grpc-keepalive-min-time', '1s',
    ...(l.forceNewCluster ? ['--force-new-cluster'] : []),
    ...tls,
  ];
}

/**
 * etcd's environment: the agent's, with Go's garbage collector set to collect at 25 % heap
 * growth instead of 100 % unless GOGC is set already. An idle voter's RSS goes from ~45-50 MB to
 * ~35 MB (GOGC=50: ~40 MB) with its idle CPU within the measurement's noise (README "Footprint");
 * a GOMEMLIMIT low enough to matter made etcd spend a fifth of a core on collection, so none is set.
 */
export function etcdEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, GOGC: env.GOGC ?? '25' };
}
