import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { ServiceView } from '../core/service-types.ts';
import { ApiError, call, snapshot, streamText } from './connection.ts';
import { Field, fieldOf, list } from './fields.tsx';
import { ago, portsText } from './format.ts';
import { go } from './route.ts';
import { session } from './session.ts';
import { healthSummary } from './stack-model.ts';

export function ServiceList() {
  const services = snapshot.value?.services;
  if (!services) return <p>Connecting…</p>;
  return (
    <>
      <h1>Services</h1>
      {!session.value?.readOnly && <p><a class="button primary" href="#/new">New service</a></p>}
      {services.length === 0 ? <p>No services yet.</p> : (
        <div class="table" role="region" aria-label="services" tabIndex={0}>
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Image</th><th scope="col">Running</th><th scope="col">Health</th><th scope="col">Restarts</th><th scope="col">Ports</th></tr></thead>
            <tbody>
              {services.map((s) => (
                <tr key={s.spec.name} data-service={s.spec.name} data-state={s.running === s.desired ? 'running' : 'pending'}>
                  <td><a href={`#/services/${s.spec.name}`}>{s.spec.name}</a></td>
                  <td>{s.spec.image}</td>
                  <td>{s.running}/{s.desired}</td>
                  <td>{healthSummary([s]) || '-'}</td>
                  <td>{s.replicas.reduce((n, r) => n + r.restarts, 0)}</td>
                  <td>{portsText(s.spec.ports)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** A service's replicas (its detail page and its stack's): where, what state, health, restarts. */
export function Replicas({ svc }: { svc: ServiceView }) {
  return (
    <div class="table" role="region" aria-label={`replicas of ${svc.spec.name}`} tabIndex={0}>
      <table>
        <thead><tr><th scope="col">Slot</th><th scope="col">Node</th><th scope="col">State</th><th scope="col">Health</th><th scope="col">Reason</th><th scope="col">Ports</th><th scope="col">Restarts</th><th scope="col">Since</th></tr></thead>
        <tbody>
          {svc.replicas.map((r) => (
            <tr key={r.slot} data-service={svc.spec.name} data-node={r.nodeName ?? ''} data-state={r.state} data-health={r.health}>
              <td>{r.slot}</td>
              <td>{r.nodeName ?? '-'}</td>
              <td><span class={`badge ${r.state}`}>{r.state}</span>{r.progress ? ` ${r.progress}` : ''}</td>
              <td>{r.health ? <span class={`badge ${r.health}`}>{r.health}</span> : '-'}</td>
              <td>{r.reason ?? ''}</td>
              <td>{portsText(r.ports.map((p) => ({ ...p })))}{r.addr && r.ports[0] ? ` @ ${r.addr}` : ''}</td>
              <td>{r.restarts}</td>
              <td>{ago(Date.now() - r.since)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const PATCH_FIELDS = ['image', 'replicas', 'env'] as const;

function Update({ svc }: { svc: ServiceView }) {
  const image = useSignal(svc.spec.image);
  const replicas = useSignal(String(svc.spec.replicas));
  const env = useSignal(Object.entries(svc.spec.env).map(([k, v]) => `${k}=${v}`).join('\n'));
  const errors = useSignal<Record<string, string>>({});
  const done = useSignal('');
  const submit = async (e: Event) => {
    e.preventDefault();
    errors.value = {};
    done.value = '';
    const n = replicas.value.trim();
    try {
      await call('PATCH', `/v1/services/${svc.spec.name}`, { image: image.value.trim(), replicas: /^\d+$/.test(n) ? Number(n) : n, env: list(env.value, /\n+/) });
      done.value = 'Updated: replicas are replaced one at a time.';
    } catch (err) {
      const message = (err as Error).message;
      errors.value = { [(err instanceof ApiError && fieldOf(message, PATCH_FIELDS)) || 'form']: message };
    }
  };
  return (
    <form class="form" onSubmit={submit} noValidate aria-labelledby="update-h">
      <h2 id="update-h">Update</h2>
      <Field name="image" label="Image" value={image} errors={errors} />
      <Field name="replicas" label="Replicas" value={replicas} errors={errors} type="number" />
      <Field name="env" label="Environment" hint="one KEY=VALUE a line" value={env} errors={errors} multiline />
      {errors.value.form && <p class="error" role="alert">{errors.value.form}</p>}
      {done.value && <p class="note" role="status">{done.value}</p>}
      <button type="submit">Update {svc.spec.name}</button>
    </form>
  );
}

function Remove({ name }: { name: string }) {
  const asking = useSignal(false);
  const error = useSignal('');
  const remove = async () => {
    try {
      await call('DELETE', `/v1/services/${name}`);
      go('#/services');
    } catch (err) {
      error.value = (err as Error).message;
    }
  };
  return (
    <section aria-labelledby="remove-h">
      <h2 id="remove-h">Remove</h2>
      {asking.value ? (
        <p role="alert">
          Remove {name} and stop all its replicas?{' '}
          <button type="button" class="danger" onClick={remove}>Yes, remove {name}</button>{' '}
          <button type="button" onClick={() => (asking.value = false)}>Keep it</button>
        </p>
      ) : (
        <button type="button" class="danger" onClick={() => (asking.value = true)}>Remove {name}…</button>
      )}
      {error.value && <p class="error">{error.value}</p>}
    </section>
  );
}

/** Follows a service's log live (all replicas, or one), from the node the page talks to. */
function Logs({ svc }: { svc: ServiceView }) {
  const following = useSignal(false);
  const text = useSignal('');
  const error = useSignal('');
  const pre = useRef<HTMLPreElement>(null);
  const ctl = useRef<AbortController>();
  useEffect(() => () => ctl.current?.abort(), []);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text.value]);
  const toggle = () => {
    if (following.value) {
      ctl.current?.abort();
      following.value = false;
      return;
    }
    ctl.current = new AbortController();
    following.value = true;
    text.value = '';
    error.value = '';
    streamText(`/v1/services/${svc.spec.name}/logs?follow=1&tail=200`, ctl.current.signal, (t) => (text.value = (text.value + t).slice(-200_000)))
      .catch((err: Error) => {
        if (err.name !== 'AbortError') error.value = err.message;
      })
      .finally(() => (following.value = false));
  };
  return (
    <section aria-labelledby="logs-h">
      <h2 id="logs-h">Logs</h2>
      <button type="button" onClick={toggle} aria-pressed={following.value}>{following.value ? 'Stop following' : 'Follow logs'}</button>
      {error.value && <p class="error">{error.value}</p>}
      <pre class="logs" ref={pre} tabIndex={0} role="log" aria-live="off" aria-label={`log of ${svc.spec.name}`}>{text.value || (following.value ? 'waiting for output…' : '')}</pre>
    </section>
  );
}

export function ServiceDetail({ name }: { name: string }) {
  const snap = snapshot.value;
  if (!snap) return <p>Connecting…</p>;
  const svc = snap.services.find((s) => s.spec.name === name);
  if (!svc) return <><h1>{name}</h1><p>There is no service named {name}. <a href="#/services">All services</a></p></>;
  const s = svc.spec;
  return (
    <>
      <h1>{name}</h1>
      <dl class="spec">
        <div><dt>image</dt><dd>{s.image}</dd></div>
        <div><dt>replicas</dt><dd>{svc.running}/{svc.desired} running</dd></div>
        <div><dt>ports</dt><dd>{portsText(s.ports)}</dd></div>
        <div><dt>volumes</dt><dd>{s.volumes.map((v) => `${v.name}:${v.path}`).join(', ') || '-'}</dd></div>
        <div><dt>constraints</dt><dd>{s.constraints.map((c) => (c.kind === 'node' ? `node=${c.value}` : `label=${c.key}=${c.value}`)).join(', ') || '-'}</dd></div>
        <div><dt>restart</dt><dd>{s.restart}</dd></div>
      </dl>
      {svc.pending && <p class="note">{svc.pending}</p>}
      <h2>Replicas</h2>
      <Replicas svc={svc} />
      <Logs svc={svc} />
      {!session.value?.readOnly && <><Update key={name} svc={svc} /><Remove name={name} /></>}
    </>
  );
}
