import type { MemberView } from '../core/views.ts';
import type { ProxyStats } from '../routing/proxy-types.ts';

export interface MetricsInput {
  members: MemberView[];
  dropped: Map<string, number>;
  /** gossip messages accepted and published, by topic family */
  received?: Map<string, number>;
  published?: Map<string, number>;
  /** heartbeats of others passed on to the mesh or kept (core/heartbeat-relay.ts) */
  relayed?: Map<string, number>;
  /** failure-detector probes, by "direct|indirect ok|failed" */
  probes?: Map<string, number>;
  uptimeMs: number;
  streams: number;
  /** the proxy's counters: the agent's own server and its worker processes together */
  proxy?: ProxyStats;
  /** per process: the agent's own proxy ("agent") and each worker ("worker-N") */
  proxyProcesses?: { process: string; requests: number }[];
  proxyWorkers?: { running: number; restarts: number };
  /** hook runs by outcome, and events dropped from a full queue, per hook (system/hooks.ts) */
  hooks?: { hook: string; runs: Record<string, number>; dropped: number }[];
  /** replicated volumes: data at risk (cluster view), this node's last snapshot pause and bytes sent */
  volumes?: { atRisk: { volume: string; ms: number | null }[]; pauseMs: Map<string, number>; applyMs?: Map<string, number>; sentBytes: number; receivedBytes: number; scrub?: { bad: number; repaired: number } };
}

/** Prometheus text exposition of the agent's figures. */
export function renderMetrics(m: MetricsInput): string {
  const lines: string[] = [];
  lines.push('# HELP warren_members Cluster members by state, as this node sees them.', '# TYPE warren_members gauge');
  for (const state of ['alive', 'suspect', 'restarting', 'dead', 'left']) {
    lines.push(`warren_members{state="${state}"} ${m.members.filter((x) => x.state === state).length}`);
  }
  lines.push('# HELP warren_gossip_dropped_total Gossip messages dropped, by reason.', '# TYPE warren_gossip_dropped_total counter');
  for (const [reason, n] of m.dropped) lines.push(`warren_gossip_dropped_total{reason="${reason}"} ${n}`);
  lines.push('# HELP warren_gossip_received_total Gossip messages accepted (once each, however many copies arrived), by topic.', '# TYPE warren_gossip_received_total counter');
  for (const [topic, n] of m.received ?? []) lines.push(`warren_gossip_received_total{topic="${topic}"} ${n}`);
  lines.push('# HELP warren_gossip_published_total Gossip messages this node published, by topic.', '# TYPE warren_gossip_published_total counter');
  for (const [topic, n] of m.published ?? []) lines.push(`warren_gossip_published_total{topic="${topic}"} ${n}`);
  lines.push('# HELP warren_gossip_heartbeat_relay_total Heartbeats of other members this node passed on to its mesh (relayed) or kept (every mesh peer hears the author itself).', '# TYPE warren_gossip_heartbeat_relay_total counter');
  for (const [outcome, n] of m.relayed ?? []) lines.push(`warren_gossip_heartbeat_relay_total{outcome="${outcome}"} ${n}`);
  lines.push('# HELP warren_gossip_probes_total Pings of silent members (indirect: through another member), by result.', '# TYPE warren_gossip_probes_total counter');
  for (const [key, n] of m.probes ?? []) {
    const [mode, result] = key.split(' ');
    lines.push(`warren_gossip_probes_total{mode="${mode}",result="${result}"} ${n}`);
  }
  lines.push('# HELP warren_event_streams Event subscribers connected to this agent.', '# TYPE warren_event_streams gauge', `warren_event_streams ${m.streams}`);
  lines.push('# HELP warren_uptime_seconds Agent uptime.', '# TYPE warren_uptime_seconds gauge', `warren_uptime_seconds ${(m.uptimeMs / 1000).toFixed(1)}`);
  if (m.proxy) {
    const p = m.proxy;
    lines.push('# HELP warren_proxy_requests_total Requests the reverse proxy received.', '# TYPE warren_proxy_requests_total counter', `warren_proxy_requests_total ${p.requests}`);
    lines.push('# HELP warren_proxy_retries_total Backend tries the proxy repeated on another backend.', '# TYPE warren_proxy_retries_total counter', `warren_proxy_retries_total ${p.retries}`);
    lines.push('# HELP warren_proxy_errors_total Requests answered with an error page or cut.', '# TYPE warren_proxy_errors_total counter', `warren_proxy_errors_total ${p.errors}`);
    lines.push(
      '# HELP warren_proxy_tries_total Backend tries by path: a local container\'s own address, or a node address and published port.',
      '# TYPE warren_proxy_tries_total counter',
      `warren_proxy_tries_total{path="container"} ${p.containerTries}`,
      `warren_proxy_tries_total{path="published"} ${p.publishedTries}`,
    );
  }
  if (m.proxyProcesses) {
    lines.push('# HELP warren_proxy_process_requests_total Requests each proxy process received (the agent and its proxy workers).', '# TYPE warren_proxy_process_requests_total counter');
    for (const p of m.proxyProcesses) lines.push(`warren_proxy_process_requests_total{process="${p.process}"} ${p.requests}`);
  }
  if (m.proxyWorkers) {
    lines.push('# HELP warren_proxy_workers Proxy worker processes accepting connections.', '# TYPE warren_proxy_workers gauge', `warren_proxy_workers ${m.proxyWorkers.running}`);
    lines.push('# HELP warren_proxy_worker_restarts_total Proxy worker processes restarted after they exited.', '# TYPE warren_proxy_worker_restarts_total counter', `warren_proxy_worker_restarts_total ${m.proxyWorkers.restarts}`);
  }
  if (m.hooks) {
    const label = (h: string) => h.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
    lines.push('# HELP warren_hook_runs_total Hook runs by result (ok, failed: non-zero exit, timeout: killed, error: could not start).', '# TYPE warren_hook_runs_total counter');
    for (const h of m.hooks) for (const [result, n] of Object.entries(h.runs)) lines.push(`warren_hook_runs_total{hook="${label(h.hook)}",result="${result}"} ${n}`);
    lines.push('# HELP warren_hook_failures_total Hook runs that failed, timed out or could not start.', '# TYPE warren_hook_failures_total counter');
    for (const h of m.hooks) lines.push(`warren_hook_failures_total{hook="${label(h.hook)}"} ${Object.entries(h.runs).reduce((a, [k, n]) => a + (k === 'ok' ? 0 : n), 0)}`);
    lines.push('# HELP warren_hook_dropped_total Events dropped because the hook\'s queue was full.', '# TYPE warren_hook_dropped_total counter');
    for (const h of m.hooks) lines.push(`warren_hook_dropped_total{hook="${label(h.hook)}"} ${h.dropped}`);
  }
  if (m.volumes) {
    const v = m.volumes;
    lines.push('# HELP warren_volume_at_risk_seconds How far back the data of a volume is on at least 2 live nodes (-1: not yet).', '# TYPE warren_volume_at_risk_seconds gauge');
    for (const r of v.atRisk) lines.push(`warren_volume_at_risk_seconds{volume="${r.volume}"} ${r.ms === null ? -1 : (r.ms / 1000).toFixed(3)}`);
    lines.push('# HELP warren_volume_snapshot_pause_ms How long the writers were paused for this node\'s last snapshot of a volume.', '# TYPE warren_volume_snapshot_pause_ms gauge');
    for (const [volume, ms] of v.pauseMs) lines.push(`warren_volume_snapshot_pause_ms{volume="${volume}"} ${ms}`);
    lines.push('# HELP warren_volume_apply_ms How long this node\'s last apply of a snapshot to its copy of a volume took (warm copy, take-over).', '# TYPE warren_volume_apply_ms gauge');
    for (const [volume, ms] of v.applyMs ?? []) lines.push(`warren_volume_apply_ms{volume="${volume}"} ${ms}`);
    lines.push('# HELP warren_volume_sent_bytes_total Chunk bytes this node sent to peers.', '# TYPE warren_volume_sent_bytes_total counter', `warren_volume_sent_bytes_total ${v.sentBytes}`);
    lines.push('# HELP warren_volume_received_bytes_total Chunk bytes this node stored from peers.', '# TYPE warren_volume_received_bytes_total counter', `warren_volume_received_bytes_total ${v.receivedBytes}`);
    if (v.scrub) {
      lines.push('# HELP warren_volume_scrub_bad_chunks_total Stored chunks a scrub found whose bytes no longer match their hash.', '# TYPE warren_volume_scrub_bad_chunks_total counter', `warren_volume_scrub_bad_chunks_total ${v.scrub.bad}`);
      lines.push('# HELP warren_volume_scrub_repaired_chunks_total Of those, fetched again whole from a peer.', '# TYPE warren_volume_scrub_repaired_chunks_total counter', `warren_volume_scrub_repaired_chunks_total ${v.scrub.repaired}`);
    }
  }
  return lines.join('\n') + '\n';
}
