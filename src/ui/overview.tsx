import { useSignal } from '@preact/signals';
import type { ServiceView } from '../core/service-types.ts';
import type { MemberView } from '../core/views.ts';
import { call, feed, snapshot } from './connection.ts';
import { ago, bytes, time } from './format.ts';
import { session } from './session.ts';

interface Admission {
  leader: string | null;
  queue: { id: string; name: string; addr: string; since: number; state: string; via: string }[];
}

/** The replicas placed on a node, as "service/slot" with their state. */
function replicasOn(services: ServiceView[], nodeId: string) {
  return services.flatMap((s) => s.replicas.filter((r) => r.nodeId === nodeId).map((r) => ({ service: s.spec.name, slot: r.slot, state: r.state })));
}

function Actions({ node, draining }: { node: MemberView; draining: boolean }) {
  const busy = useSignal(false);
  const msg = useSignal('');
  if (session.value?.readOnly || node.state === 'pending') return null;
  const act = (what: 'drain' | 'activate') => async () => {
    busy.value = true;
    try {
      await call('POST', `/v1/nodes/${encodeURIComponent(node.name)}/${what}`);
      msg.value = what === 'drain' ? 'draining: its replicas move to other nodes' : 'active: it takes replicas again';
    } catch (err) {
      msg.value = (err as Error).message;
    } finally {
      busy.value = false;
    }
  };
  return (
    <div class="actions">
      {draining ? (
        <button type="button" disabled={busy.value} onClick={act('activate')}>Activate {node.name}</button>
      ) : (
        <button type="button" disabled={busy.value} onClick={act('drain')}>Drain {node.name}</button>
      )}
      {msg.value && <p class="note" role="status">{msg.value}</p>}
    </div>
  );
}

function NodeCard({ node, services, leader, draining }: { node: MemberView; services: ServiceView[]; leader: string | null; draining: boolean }) {
  const h = node.health;
  const replicas = replicasOn(services, node.id);
  return (
    <article class={`card node state-${node.state}`} data-node={node.name} data-state={node.state} data-draining={draining ? 'true' : undefined} aria-label={`node ${node.name}`}>
      <header>
        <h3>{node.name}</h3>
        <span class={`badge ${node.state}`}>{node.state}</span>
      </header>
      <p class="meta">
        {node.role}
        {leader === node.id && <strong> · leader</strong>}
        {draining && <strong> · draining</strong>}
        {node.self && ' · this page'} · {node.addr}
      </p>
      <dl class="figures">
        <div><dt>load</dt><dd>{h ? h.cpuLoad.toFixed(2) : '-'}</dd></div>
        <div><dt>memory</dt><dd>{h ? `${bytes(h.memUsedBytes)} / ${bytes(h.memTotalBytes)}` : '-'}</dd></div>
        <div><dt>disk free</dt><dd>{bytes(h?.diskFreeBytes)}</dd></div>
        <div><dt>containers</dt><dd>{h ? h.containers : '-'}</dd></div>
        <div><dt>version</dt><dd>{node.version ?? '-'}</dd></div>
      </dl>
      <ul class="replicas" aria-label={`replicas on ${node.name}`}>
        {replicas.map((r) => (
          <li key={`${r.service}/${r.slot}`} data-service={r.service} data-node={node.name} data-state={r.state}>
            <a href={`#/services/${r.service}`}>{r.service}/{r.slot}</a> <span class={`badge ${r.state}`}>{r.state}</span>
          </li>
        ))}
        {replicas.length === 0 && <li class="none">no replicas</li>}
      </ul>
      <Actions node={node} draining={draining} />
    </article>
  );
}

function Admission({ admission }: { admission: Admission }) {
  const token = useSignal('');
  const msg = useSignal('');
  const admin = !session.value?.readOnly;
  const approve = (name: string) => async () => {
    try {
      await call('POST', `/v1/admission/${encodeURIComponent(name)}/approve`);
      msg.value = `approved ${name}: it joins when its turn comes`;
    } catch (err) {
      msg.value = (err as Error).message;
    }
  };
  const showToken = async () => {
    try {
      token.value = (await call<{ token: string }>('GET', '/v1/join-token')).token;
    } catch (err) {
      msg.value = (err as Error).message;
    }
  };
  return (
    <section aria-labelledby="admission-h">
      <h2 id="admission-h">Joining machines</h2>
      {admission.queue.length === 0 && <p>No machine is waiting to join.</p>}
      <ul class="queue">
        {admission.queue.map((q) => (
          <li key={q.id} data-node={q.name} data-state={q.state}>
            <strong>{q.name}</strong> {q.addr} · {q.state} · waiting {ago(Date.now() - q.since)}
            {admin && q.state === 'pending-approval' && <button type="button" onClick={approve(q.name)}>Approve {q.name}</button>}
          </li>
        ))}
      </ul>
      {admin && (
        <p>
          <button type="button" onClick={showToken}>Show join token</button>
          {token.value && <> <code class="token">{token.value}</code> (new machines: <code>warren agent --join ADDR --token …</code>)</>}
        </p>
      )}
      {msg.value && <p class="note" role="status">{msg.value}</p>}
    </section>
  );
}

function Feed() {
  return (
    <section aria-labelledby="feed-h">
      <h2 id="feed-h">Events</h2>
      <ol class="feed" aria-live="polite">
        {feed.value.slice(0, 20).map((e) => (
          <li key={e.id}>
            <time>{time(e.time)}</time> <strong>{e.name}</strong> {describe(e.payload)} <span class="meta">from {e.source.name}</span>
          </li>
        ))}
        {feed.value.length === 0 && <li class="none">Nothing happened since this page opened.</li>}
      </ol>
    </section>
  );
}

function describe(payload: unknown): string {
  if (!payload || typeof payload !== 'object') return '';
  const p = payload as Record<string, unknown>;
  return ['name', 'service', 'slot', 'node', 'from', 'to', 'reason'].filter((k) => p[k] !== undefined && typeof p[k] !== 'object').map((k) => `${k}=${String(p[k])}`).join(' ');
}

export function Overview() {
  const snap = snapshot.value;
  if (!snap) return <p>Connecting…</p>;
  const admission = snap.admission as Admission;
  const nodes = snap.members.filter((m) => m.state !== 'pending');
  return (
    <>
      <h1>Cluster</h1>
      {snap.stale && <p class="note" role="status">This node cannot read the cluster's state right now: services are as last known.</p>}
      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">Nodes ({nodes.length})</h2>
        <div class="grid">
          {nodes.map((m) => <NodeCard key={m.id} node={m} services={snap.services} leader={admission.leader} draining={snap.draining.includes(m.id)} />)}
        </div>
      </section>
      <Admission admission={admission} />
      <Feed />
    </>
  );
}
