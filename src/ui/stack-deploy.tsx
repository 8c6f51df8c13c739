import type { Problem } from '../core/compose/diagnostics.ts';
import { useSignal } from '@preact/signals';
import type { StackStep } from '../core/compose/to-services.ts';
import { ApiError, call } from './connection.ts';
import { Field } from './fields.tsx';
import { go } from './route.ts';
import { lineRange, problemLines, warningLine, type ProblemLine } from './stack-model.ts';

/** The pasted texts travel as these files (POST /v1/stacks wants absolute paths). */
const FILES: Record<string, { id: string; label: string }> = { '/compose.yaml': { id: 'f-compose', label: 'compose file' }, '/.env': { id: 'f-env', label: '.env' } };

interface DeployResult {
  stack: string;
  plan: StackStep[];
  warnings: Problem[];
}

/** Selects line `line` of the textarea the file was pasted into, so the problem is in view. */
function showLine(file: string, line: number): void {
  const el = document.getElementById(FILES[file]!.id) as HTMLTextAreaElement | null;
  if (!el) return;
  el.focus();
  el.setSelectionRange(...lineRange(el.value, line));
}

function Problems({ lines, kind }: { lines: ProblemLine[]; kind: 'error' | 'warn' }) {
  return (
    <ul class={`problems ${kind}`} aria-label={kind === 'error' ? 'errors' : 'warnings'}>
      {lines.map((l, i) => (
        <li key={i}>
          {l.file && l.line ? <button type="button" class="link" onClick={() => showLine(l.file!, l.line!)}>{FILES[l.file]!.label}, line {l.line}</button> : null}
          {l.file && l.line ? ': ' : ''}{l.text}
        </li>
      ))}
    </ul>
  );
}

const ACTION: Record<string, string> = { create: 'created', update: 'updated', unchanged: 'left as it is', remove: 'removed' };

/**
 * Deploy a stack from a pasted or uploaded compose file (and .env text): the agent checks it
 * first (a dry run: the plan and the warnings), and only a checked text can be deployed.
 */
export function DeployStack() {
  const name = useSignal('');
  const compose = useSignal('');
  const env = useSignal('');
  const errors = useSignal<Record<string, string>>({});
  const problems = useSignal<ProblemLine[]>([]);
  const checked = useSignal<{ key: string; result: DeployResult } | undefined>(undefined);
  const busy = useSignal(false);

  const body = (dryRun: boolean) => ({
    files: [{ path: '/compose.yaml', text: compose.value }],
    ...(env.value.trim() ? { envFile: { path: '/.env', text: env.value } } : {}),
    ...(name.value.trim() ? { projectName: name.value.trim() } : {}),
    environment: {},
    dryRun,
  });
  const key = JSON.stringify(body(true));
  const ready = checked.value?.key === key ? checked.value.result : undefined;

  const send = async (dryRun: boolean) => {
    busy.value = true;
    errors.value = {};
    problems.value = [];
    try {
      const result = await call<DeployResult>('POST', '/v1/stacks', body(dryRun));
      if (!dryRun) return go(`#/stacks/${result.stack}`);
      checked.value = { key, result };
    } catch (err) {
      const message = (err as Error).message;
      checked.value = undefined;
      if (err instanceof ApiError && /no usable stack name|^-p:/.test(message)) {
        errors.value = { name: /^-p:/.test(message) ? message.replace(/^-p: /, '') : 'give the stack a name here (or a name: key in the file)' };
      } else if (err instanceof ApiError && (err.code === 'invalid_stack' || err.code === 'port_taken')) {
        problems.value = problemLines(message, Object.keys(FILES));
        errors.value = { compose: `Nothing was deployed: ${problems.value.length === 1 ? 'one problem' : `${problems.value.length} problems`}, listed below.` };
      } else errors.value = { form: message };
    } finally {
      busy.value = false;
    }
  };

  const upload = (target: typeof compose) => async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) target.value = await file.text();
  };

  return (
    <>
      <h1>Deploy a stack</h1>
      <form class="form" noValidate onSubmit={(e) => (e.preventDefault(), void send(true))}>
        <Field name="name" label="Stack name" hint="optional when the file has a name: key; lowercase letters, digits, - and _" value={name} errors={errors} />
        <Field name="compose" label="Compose file" hint="paste it, or upload it below" value={compose} errors={errors} multiline rows={14} />
        {problems.value.length > 0 && <Problems lines={problems.value} kind="error" />}
        <label class="upload">Upload a compose file <input type="file" accept=".yml,.yaml,text/yaml,text/plain" onChange={upload(compose)} /></label>
        <Field name="env" label="Environment (.env)" hint="optional: KEY=VALUE lines, as a .env file next to the compose file" value={env} errors={errors} multiline rows={4} />
        <label class="upload">Upload a .env file <input type="file" onChange={upload(env)} /></label>
        {errors.value.form && <p class="error" role="alert">{errors.value.form}</p>}
        {ready && (
          <section aria-labelledby="check-h" role="status">
            <h2 id="check-h">Checked: stack {ready.stack}</h2>
            <ul class="problems" aria-label="plan">
              {ready.plan.map((s) => <li key={s.service} data-service={s.service} data-action={s.action}>{s.service} will be {ACTION[s.action] ?? s.action}{s.restarts ? ' (its containers are replaced)' : ''}</li>)}
            </ul>
            {ready.warnings.length > 0 ? (
              <>
                <p class="warn">{ready.warnings.length === 1 ? 'One warning' : `${ready.warnings.length} warnings`}: read before deploying.</p>
                <Problems lines={ready.warnings.map(warningLine)} kind="warn" />
              </>
            ) : <p>No warnings.</p>}
          </section>
        )}
        <div class="actions">
          <button type="submit" class={ready ? '' : 'primary'} disabled={busy.value || !compose.value.trim()}>Check</button>
          {ready && <button type="button" class="primary" disabled={busy.value} onClick={() => void send(false)}>Deploy {ready.stack}</button>}
        </div>
      </form>
    </>
  );
}
