import type { VolumeCopyView, VolumeView } from '../core/volumes/volume-view.ts';
import type { MemberView } from '../core/views.ts';
import type { SnapshotListItem } from '../runtime/volume-api.ts';
import { snapshot } from './connection.ts';
import { ago, bytes } from './format.ts';
import { useLive } from './live-fetch.ts';
import { session } from './session.ts';
import { SnapshotActions, SnapshotNow, SnapshotPanel } from './volume-actions.tsx';
import { PolicySection } from './volume-policy.tsx';
import { ageNow, changesSnapshots, changesVolumes, newestFirst, nodeState, riskLevel, riskText, whenText } from './volume-model.ts';

const href = (name: string) => `#/volumes/${encodeURIComponent(name)}`;

function Risk({ v, at }: { v: VolumeView; at: number }) {
  const ms = v.atRiskMs === null ? null : ageNow(v.atRiskMs, at, Date.now());
  const level = riskLevel(ms);
  return <span class={`risk ${level}`} data-risk={level}>{v.state === 'new' ? 'all (no snapshot yet)' : riskText(ms)}</span>;
}

/** One volume's copies, each naming its node (with that node's state, as the overview's cards). */
function CopyList({ v, at, members }: { v: VolumeView; at: number; members: MemberView[] }) {
  if (v.copies.length === 0) return <span class="none">none yet</span>;
  return (
    <ul class="copies" aria-label={`copies of ${v.name}`}>
      {v.copies.map((c) => (
        <li key={c.node} data-volume={v.name} data-service={v.service} data-node={c.node} data-state={nodeState(members, c.node)} data-snapshot={c.snapshot} data-applied={String(c.applied)}>
          {c.node} · snapshot {ago(ageNow(c.ageMs, at, Date.now()))} old{c.applied ? '' : ' · not applied yet'}
        </li>
      ))}
    </ul>
  );
}

const StateBadge = ({ v }: { v: VolumeView }) => <span class={`badge ${v.state}`}>{v.state}</span>;

export function VolumeList() {
  const got = useLive<{ volumes: VolumeView[] }>('/v1/volumes', changesVolumes).value;
  const members = snapshot.value?.members ?? [];
  if (!got?.data) return got?.error ? <p class="error" role="alert">{got.error}</p> : <p>Connecting…</p>;
  const list = got.data.volumes;
  return (
    <>
      <h1>Volumes</h1>
      {got.error && <p class="note" role="status">Not up to date: {got.error}</p>}
      {list.length === 0 ? <p>No volumes yet. A service's named volume (<code>-v data:/data</code>) is snapshotted and copied to other nodes.</p> : (
        <div class="table" role="region" aria-label="volumes" tabIndex={0}>
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Service</th><th scope="col">Size</th><th scope="col">State</th><th scope="col">Live on</th><th scope="col">At risk</th><th scope="col">Copies</th></tr></thead>
            <tbody>
              {list.map((v) => (
                <tr key={v.name} data-volume={v.name} data-service={v.service} data-node={v.node ?? ''} data-state={v.state}>
                  <td><a href={href(v.name)}>{v.name}</a></td>
                  <td><ServiceLink service={v.service} /></td>
                  <td>{bytes(v.sizeBytes)}</td>
                  <td><StateBadge v={v} /></td>
                  <td>{v.node ?? '-'}</td>
                  <td><Risk v={v} at={got.at} /></td>
                  <td><CopyList v={v} at={got.at} members={members} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CopyTable({ v, at, members }: { v: VolumeView; at: number; members: MemberView[] }) {
  const row = (c: VolumeCopyView) => (
    <tr key={c.node} data-volume={v.name} data-service={v.service} data-node={c.node} data-state={nodeState(members, c.node)} data-snapshot={c.snapshot} data-applied={String(c.applied)}>
      <td>{c.node}{c.node === v.node ? ' (live)' : ''}</td>
      <td><span class={`badge ${nodeState(members, c.node)}`}>{nodeState(members, c.node)}</span></td>
      <td><code>{c.snapshot}</code></td>
      <td>{ago(ageNow(c.ageMs, at, Date.now()))}</td>
      <td>{c.applied ? 'yes' : 'not yet'}</td>
    </tr>
  );
  return (
    <div class="table" role="region" aria-label={`copies of ${v.name}`} tabIndex={0}>
      <table>
        <thead><tr><th scope="col">Node</th><th scope="col">Node state</th><th scope="col">Snapshot</th><th scope="col">Age</th><th scope="col">Applied</th></tr></thead>
        <tbody>{v.copies.map(row)}</tbody>
      </table>
    </div>
  );
}

function Snapshots({ v }: { v: VolumeView }) {
  const got = useLive<{ snapshots: SnapshotListItem[] }>(`/v1/volumes/${encodeURIComponent(v.name)}/snapshots`, (e) => changesSnapshots(e, v.name)).value;
  const admin = !session.value?.readOnly;
  const list = got?.data ? newestFirst(got.data.snapshots) : undefined;
  const now = Date.now();
  return (
    <section aria-labelledby="snapshots-h">
      <h2 id="snapshots-h">Snapshots{list ? ` (${list.length})` : ''}</h2>
      {admin && <SnapshotNow volume={v.name} />}
      {got?.error && <p class={list ? 'note' : 'error'} role="status">{list ? 'Not up to date: ' : ''}{got.error}</p>}
      {!list ? (!got?.error && <p>Loading…</p>) : list.length === 0 ? <p>No snapshots yet.</p> : (
        <div class="table" role="region" aria-label={`snapshots of ${v.name}`} tabIndex={0}>
          <table>
            <thead><tr><th scope="col">Id</th><th scope="col">Taken</th><th scope="col">Size</th><th scope="col">New</th><th scope="col">Pause</th><th scope="col">Copies</th>{admin && <th scope="col">Actions</th>}</tr></thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id} data-volume={v.name} data-snapshot={s.id}>
                  <td><code>{s.id}</code></td>
                  <td>{whenText(s.time, now)}</td>
                  <td>{bytes(s.sizeBytes)}</td>
                  <td>{bytes(s.newBytes)}</td>
                  <td>{s.pauseMs} ms</td>
                  <td>{s.copies}</td>
                  {admin && <td><SnapshotActions volume={v} snapshot={s} /></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {admin && <SnapshotPanel volume={v.name} />}
    </section>
  );
}

export function VolumeDetail({ name }: { name: string }) {
  const got = useLive<{ volume: VolumeView }>(`/v1/volumes/${encodeURIComponent(name)}`, changesVolumes).value;
  const members = snapshot.value?.members ?? [];
  const v = got?.data?.volume;
  if (!v) return <><h1>Volume {name}</h1>{got?.error ? <p class="error" role="alert">{got.error} <a href="#/volumes">All volumes</a></p> : <p>Connecting…</p>}</>;
  return (
    <div data-volume={v.name} data-service={v.service} data-node={v.node ?? ''} data-state={v.state}>
      <h1>Volume {v.name}</h1>
      {got.error && <p class="note" role="status">Not up to date: {got.error}</p>}
      <dl class="spec">
        <div><dt>service</dt><dd><ServiceLink service={v.service} /></dd></div>
        <div><dt>state</dt><dd><StateBadge v={v} /></dd></div>
        <div><dt>live on</dt><dd>{v.node ?? '-'}</dd></div>
        <div><dt>size</dt><dd>{bytes(v.sizeBytes)}</dd></div>
        <div><dt>data at risk</dt><dd><Risk v={v} at={got.at} /></dd></div>
      </dl>
      <h2>Copies</h2>
      {v.copies.length ? <CopyTable v={v} at={got.at} members={members} /> : <p>No node holds a copy yet.</p>}
      <Snapshots key={v.name} v={v} />
      <PolicySection key={`policy-${v.name}`} volume={v.name} />
    </div>
  );
}

/** The service that mounts a volume; a clone or an import has none until a service takes it. */
function ServiceLink({ service }: { service: string }) {
  return service ? <a href={`#/services/${service}`}>{service}</a> : <span class="meta">none yet</span>;
}
