import { useSignal, type Signal } from '@preact/signals';
import { ApiError, call } from './connection.ts';
import { Field, fieldOf, list } from './fields.tsx';
import { go } from './route.ts';

const FIELDS = ['name', 'image', 'ports', 'env', 'volumes', 'replicas', 'constraints'] as const;

/** Create a service: what `warren service create` takes, validated by the API itself. */
export function CreateService() {
  const v = Object.fromEntries(FIELDS.map((f) => [f, useSignal<string>(f === 'replicas' ? '1' : '')])) as Record<(typeof FIELDS)[number], Signal<string>>;
  const errors = useSignal<Record<string, string>>({});
  const busy = useSignal(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    busy.value = true;
    errors.value = {};
    const replicas = v.replicas.value.trim();
    const body = {
      name: v.name.value.trim(),
      image: v.image.value.trim(),
      ports: list(v.ports.value),
      env: list(v.env.value, /\n+/),
      volumes: list(v.volumes.value),
      replicas: /^\d+$/.test(replicas) ? Number(replicas) : replicas,
      constraints: list(v.constraints.value),
    };
    try {
      await call('POST', '/v1/services', body);
      go(`#/services/${body.name}`);
    } catch (err) {
      const message = (err as Error).message;
      const field = err instanceof ApiError ? fieldOf(message, FIELDS) : undefined;
      errors.value = { [field ?? 'form']: message };
      if (field) document.getElementById(`f-${field}`)?.focus();
    } finally {
      busy.value = false;
    }
  };
  return (
    <>
      <h1>New service</h1>
      <form class="form" onSubmit={submit} noValidate>
        <Field name="name" label="Name" hint="a DNS label: web, media-server" value={v.name} errors={errors} required />
        <Field name="image" label="Image" hint="e.g. nginx:1.27" value={v.image} errors={errors} required />
        <Field name="ports" label="Ports" hint="container ports, comma separated: 80, 53/udp" value={v.ports} errors={errors} />
        <Field name="env" label="Environment" hint="one KEY=VALUE a line" value={v.env} errors={errors} multiline />
        <Field name="volumes" label="Volumes" hint="NAME:/path, one a line" value={v.volumes} errors={errors} multiline />
        <Field name="replicas" label="Replicas" value={v.replicas} errors={errors} type="number" />
        <Field name="constraints" label="Constraints" hint="node=NAME or label=KEY=VALUE, one a line" value={v.constraints} errors={errors} multiline />
        {errors.value.form && <p class="error" role="alert">{errors.value.form}</p>}
        <button type="submit" class="primary" disabled={busy.value}>{busy.value ? 'Creating…' : 'Create service'}</button>
      </form>
    </>
  );
}
