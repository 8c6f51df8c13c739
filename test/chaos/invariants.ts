/**
 * The chaos run's invariants, checked on the real cluster: after every fault (once it is healed,
 * within a bound) and continuously while faults run.
 */
import type { ServiceView } from '../../src/core/service-types.ts';
import { clusterContainers, type ChaosNode } from './faults.ts';
import { describe, type AckModel, type ModelState } from './model.ts';
import { waitFor } from '../helpers/wait.ts';

export interface Violation {
  check: string;
  message: string;
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2500) });
  return { status: res.status, body: await res.json() };
}

/** Running containers of the run's cluster, by service. */
export async function runningByService(clusterId: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const c of await clusterContainers(clusterId)) counts.set(c.service, (counts.get(c.service) ?? 0) + 1);
  return counts;
}

/**
 * The nodes (indexes) the cluster says run `service`'s replicas, as the first node that answers
 * lists it; undefined when none answers.
 */
export async function runningOn(nodes: ChaosNode[], ids: string[], service: string): Promise<number[] | undefined> {
  for (const n of nodes) {
    const res = await fetch(`${n.agent.api}/v1/services/${service}`, { signal: AbortSignal.timeout(2500) }).catch(() => undefined);
    if (res?.status !== 200) continue;
    const view = ((await res.json()) as { service: ServiceView }).service;
    return view.replicas.filter((r) => r.state === 'running').map((r) => ids.indexOf(r.nodeId!));
  }
  return undefined;
}

function stateOf(view: ServiceView | undefined): ModelState {
  return view ? { replicas: view.spec.replicas, v: Number(view.spec.env.CHAOS_V) } : undefined;
}

/** The pino line that says the node's fencing state last changed, in this process's output. */
function fencedNow(node: ChaosNode): boolean {
  const log = node.agent.log().slice(node.logFrom);
  // the messages themselves: "stopping container" lines carry the fence as their reason too
  const fenced = log.lastIndexOf('"msg":"fenced: no etcd quorum');
  const back = log.lastIndexOf('"msg":"etcd quorum reachable again');
  return fenced > back;
}

/** One pass over every invariant that must hold once the cluster converged; [] when all do. */
export async function convergedViolations(nodes: ChaosNode[], ids: string[], voterTarget: number, clusterId: string, model: AckModel, historyOf: (name: string) => string = () => '', others: readonly string[] = []): Promise<Violation[]> {
  const out: Violation[] = [];
  const health = await Promise.all(nodes.map((n) => getJson(`${n.agent.api}/v1/health`).catch(() => undefined)));
  nodes.forEach((n, i) => {
    const h = health[i];
    if (h?.body?.status !== 'ok') out.push({ check: 'quorum', message: `node ${i} (${n.ip}) not healthy: ${h ? JSON.stringify(h.body.etcd ?? h.body) : 'no answer'}` });
    else if (fencedNow(n)) out.push({ check: 'fence', message: `node ${i} (${n.ip}) is healthy (connected to the quorum) but still fenced` });
  });
  if (out.some((v) => v.check === 'quorum')) return out;

  const adm = await getJson(`${nodes[0]!.agent.api}/v1/admission`).catch((err) => ({ body: { error: (err as Error).message } }));
  // an agent that cannot read etcd answers with an empty list and the error: not "0 voters"
  if (!Array.isArray(adm.body?.voters) || adm.body?.error) out.push({ check: 'voters', message: `node 0 cannot list the voters: ${JSON.stringify(adm.body?.error ?? adm.body)}` });
  else {
    const voters = (adm.body.voters as any[]).filter((v) => !v.isLearner).length;
    if (voters !== voterTarget) out.push({ check: 'voters', message: `${voters} etcd voters, target ${voterTarget}` });
  }

  const views = await Promise.all(nodes.map((n) => getJson(`${n.agent.api}/v1/members`).catch(() => undefined)));
  views.forEach((v, i) => {
    const alive = ((v?.body?.members ?? []) as any[]).filter((m) => m.state === 'alive').map((m) => m.id);
    const missing = ids.filter((id) => !alive.includes(id));
    if (missing.length) out.push({ check: 'members', message: `node ${i} does not see ${missing.map((id) => `node ${ids.indexOf(id)}`).join(', ')} alive` });
  });

  const lists = await Promise.all(nodes.map((n) => getJson(`${n.agent.api}/v1/services`).catch(() => undefined)));
  const summaries = lists.map((l) => (l?.status === 200 ? ((l.body.services ?? []) as ServiceView[]) : undefined));
  const text = summaries.map((s) => (s ? s.map((v) => `${v.spec.name}:${describe(stateOf(v))}`).sort().join(' ') : 'no answer'));
  if (new Set(text).size !== 1) out.push({ check: 'services-agree', message: `the nodes list different services: ${text.map((t, i) => `node ${i}: [${t}]`).join('; ')}` });
  const list = summaries[0];
  if (!list) return out;

  const running = await runningByService(clusterId);
  for (const name of model.names()) {
    const view = list.find((v) => v.spec.name === name);
    const lost = model.check(name, stateOf(view));
    if (lost) out.push({ check: 'acked-writes', message: `${lost}; its last writes (times from the first write): ${historyOf(name)}` });
    const want = view?.spec.replicas ?? 0;
    const docker = running.get(name) ?? 0;
    if (docker !== want || (view && view.running !== want)) {
      out.push({ check: 'replicas', message: `${name}: wants ${want}, Docker runs ${docker}${view ? `, the API reports ${view.running} running (${view.replicas.map((r) => `${r.slot}:${r.state}${r.reason ? ` ${r.reason}` : ''}`).join(', ')})` : ''}` });
    }
  }
  for (const [name, n] of running) if (!model.names().includes(name) && !others.includes(name)) out.push({ check: 'replicas', message: `${n} container(s) of unknown service ${name}` });
  return out;
}

/**
 * The services' states as the first node lists them (to settle the model after a check). Only a
 * 200 is a list: a node whose etcd client is reconnecting answers 503 while its catalog reloads,
 * and that error's body, read as an empty list, once settled the model to "every service absent"
 * (then reported as lost writes and over-replicas: ci57). Waits up to `timeoutMs` for one.
 */
export async function observedStates(node: ChaosNode, timeoutMs = 10_000): Promise<Map<string, ModelState>> {
  const { body } = await waitFor('a service list from the node', async () => {
    const r = await getJson(`${node.agent.api}/v1/services`).catch(() => undefined);
    return r?.status === 200 && Array.isArray(r.body?.services) ? r : undefined;
  }, timeoutMs, 250);
  return new Map(((body.services ?? []) as ServiceView[]).map((v) => [v.spec.name, stateOf(v)]));
}

/**
 * Watches Docker while faults run: a service running more copies than any state it may be in
 * allows, for longer than `limitMs`, is a violation (a fenced or reassigned replica left running).
 * Services written in the last `settleMs` are skipped (an update replaces containers).
 */
export class OverReplicaWatch {
  private readonly since = new Map<string, number>();
  private readonly reported = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly clusterId: string,
    private readonly model: AckModel,
    private readonly lastWriteAt: Map<string, number>,
    private readonly limitMs: number,
    private readonly onViolation: (v: Violation) => void,
    private readonly settleMs = 6000,
    /** services outside the model (the volume writer) and the copies each may run */
    private readonly fixed: ReadonlyMap<string, number> = new Map(),
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), 500);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = Date.now();
      const running = await runningByService(this.clusterId);
      for (const name of [...this.model.names(), ...this.fixed.keys()]) {
        const max = this.fixed.get(name) ?? this.model.maxReplicas(name);
        const over = (running.get(name) ?? 0) > max && now - (this.lastWriteAt.get(name) ?? 0) > this.settleMs;
        if (!over) {
          this.since.delete(name);
          this.reported.delete(name);
          continue;
        }
        const from = this.since.get(name) ?? now;
        this.since.set(name, from);
        if (now - from > this.limitMs && !this.reported.has(name)) {
          this.reported.add(name);
          this.onViolation({ check: 'over-replicas', message: `${name} runs ${running.get(name)} copies (at most ${max} wanted) for over ${this.limitMs} ms` });
        }
      }
    } catch {
      // Docker busy: the next sample tells
    } finally {
      this.busy = false;
    }
  }
}
