import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { ServiceView } from '../core/service-types.ts';
import { call, snapshot } from './connection.ts';
import { ago, portsText } from './format.ts';
import { go } from './route.ts';
import { Replicas } from './services.tsx';
import { healthSummary, stacksOf } from './stack-model.ts';
import { session } from './session.ts';

const stateOf = (g: { running: number; desired: number }) => (g.running === g.desired ? 'running' : 'pending');

export function StackList() {
  const services = snapshot.value?.services;
  if (!services) return <p>Connecting…</p>;
  const stacks = stacksOf(services);
  return (
    <>
      <h1>Stacks</h1>
      {!session.value?.readOnly && <p><a class="button primary" href="#/deploy">Deploy a stack</a></p>}
      {stacks.length === 0 ? <p>No stacks yet. A stack is a compose file deployed as a set of services.</p> : (
        <div class="table" role="region" aria-label="stacks" tabIndex={0}>
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Services</th><th scope="col">Running</th><th scope="col">Health</th><th scope="col">Nodes</th></tr></thead>
            <tbody>
              {stacks.map((g) => (
                <tr key={g.name} data-stack={g.name} data-state={stateOf(g)}>
                  <td><a href={`#/stacks/${g.name}`}>{g.name}</a></td>
                  <td>{g.services.length}</td>
                  <td>{g.running}/{g.desired}</td>
                  <td>{healthSummary(g.services) || '-'}</td>
                  <td>{[...new Set(g.services.flatMap((s) => s.replicas.map((r) => r.nodeName)).filter(Boolean))].join(', ') || '-'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function RemoveStack({ name }: { name: string }) {
  const asking = useSignal(false);
  const error = useSignal('');
  const busy = useSignal(false);
  const remove = async () => {
    busy.value = true;
    try {
      await call('DELETE', `/v1/stacks/${name}`);
      go('#/stacks');
    } catch (err) {
      error.value = (err as Error).message;
    } finally {
      busy.value = false;
    }
  };
  return (
    <section aria-labelledby="remove-h">
      <h2 id="remove-h">Remove</h2>
      {asking.value ? (
        <p role="alert">
          Remove the stack {name}: all its services and their containers? Its volumes stay (<code>warren stack rm {name} --volumes</code> removes them).{' '}
          <button type="button" class="danger" disabled={busy.value} onClick={remove}>Yes, remove {name}</button>{' '}
          <button type="button" onClick={() => (asking.value = false)}>Keep it</button>
        </p>
      ) : (
        <button type="button" class="danger" onClick={() => (asking.value = true)}>Remove {name}…</button>
      )}
      {error.value && <p class="error" role="alert">{error.value}</p>}
    </section>
  );
}

export function StackDetail({ name }: { name: string }) {
  const times = useSignal<{ createdAt: number; updatedAt: number } | undefined>(undefined);
  useEffect(() => {
    call<{ stack: { createdAt: number; updatedAt: number } }>('GET', `/v1/stacks/${name}`).then((r) => (times.value = r.stack), () => undefined);
  }, [name]);
  const snap = snapshot.value;
  if (!snap) return <p>Connecting…</p>;
  const g = stacksOf(snap.services).find((s) => s.name === name);
  // just deployed: its record is there before the snapshot shows its services
  if (!g) return <><h1>Stack {name}</h1><p>{times.value ? 'Its services are being created…' : `There is no stack named ${name}.`} <a href="#/stacks">All stacks</a></p></>;
  return (
    <div data-stack={name} data-state={stateOf(g)}>
      <h1>Stack {name}</h1>
      <p class="meta">
        {g.services.length} services · {g.running}/{g.desired} replicas running
        {times.value && ` · deployed ${ago(Date.now() - times.value.updatedAt)} ago`}
      </p>
      {g.services.map((s) => (
        <section key={s.spec.name} data-service={s.spec.name} aria-labelledby={`svc-${s.spec.name}`}>
          <h2 id={`svc-${s.spec.name}`}><a href={`#/services/${s.spec.name}`}>{s.spec.name}</a></h2>
          <p class="meta">
            {s.spec.image} · {s.running}/{s.desired} running · ports {portsText(s.spec.ports)}
          </p>
          {s.pending && <p class="note">{s.pending}</p>}
          <Replicas svc={s} />
        </section>
      ))}
      {!session.value?.readOnly && <RemoveStack name={name} />}
    </div>
  );
}
