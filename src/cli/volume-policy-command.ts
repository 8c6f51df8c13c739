/** `warren volume policy NAME [...]`: a volume's own snapshot interval and retention (core/volumes/volume-policy.ts). */
import type { Command } from 'commander';
import type { RetentionPolicy } from '../core/volumes/retention.ts';
import { durationText, RETENTION_FIELDS, setFields } from '../core/volumes/volume-policy.ts';
import { changesPolicy, policyFromFlags, type PolicyFlags } from '../core/volumes/policy-edit.ts';
import type { PolicyView } from '../runtime/volume-api.ts';
import { clientFor } from './client.ts';
import { dim, printJson, renderFields } from './output.ts';

const LABELS: Record<keyof RetentionPolicy, string> = { keepAllWithinMs: 'keep all within', hourly: 'hourly', daily: 'daily', weekly: 'weekly', monthly: 'monthly' };

/** The policy for people: one line a field, the defaults marked. */
export function renderPolicy(p: PolicyView): string {
  const mark = (field: string) => (p.defaults.includes(field) ? ` ${dim('(default)')}` : '');
  return renderFields([
    ['volume', p.volume],
    ['interval', `${durationText(p.policy.intervalMs)}${mark('intervalMs')}`],
    ...RETENTION_FIELDS.map((k): [string, string] => [LABELS[k], `${k === 'keepAllWithinMs' ? durationText(p.policy.retention[k]) : p.policy.retention[k]}${mark(`retention.${k}`)}`]),
  ]);
}

/** One line for `warren volume inspect`. */
export function policySummary(p: PolicyView): string {
  const r = p.policy.retention;
  const all = p.defaults.length === 1 + RETENTION_FIELDS.length ? ` ${dim('(defaults)')}` : '';
  return `every ${durationText(p.policy.intervalMs)}; keeps all of the last ${durationText(r.keepAllWithinMs)}, then ${r.hourly} hourly, ${r.daily} daily, ${r.weekly} weekly, ${r.monthly} monthly${all}`;
}

export function registerVolumePolicyCommand(volume: Command): void {
  volume
    .command('policy <name>')
    .description("show or set a volume's own snapshot interval and retention (a field not set is the agent's default: --snapshot-interval-ms; every snapshot of the last 10 minutes, then 24 hourly, 7 daily, 4 weekly, 12 monthly)")
    .option('--interval <duration>', 'snapshot every DURATION, 1s to 24h (e.g. 30s, 5m, 1h)')
    .option('--keep-within <duration>', 'keep every snapshot of the last DURATION (e.g. 10m, 1h, 7d; 0: none)')
    .option('--hourly <n>', 'then keep the newest of each of the last N hours that have one')
    .option('--daily <n>', 'and of the last N days')
    .option('--weekly <n>', 'and of the last N weeks (from Monday, UTC)')
    .option('--monthly <n>', 'and of the last N months')
    .option('--reset', 'every field back to its default')
    .option('--json', 'print JSON: { volume, policy: { intervalMs, retention: { keepAllWithinMs, hourly, daily, weekly, monthly } }, defaults }')
    .addHelpText('after', '\nA value of "default" unsets that one field (e.g. --daily default). Fields not given keep their setting.\nExamples:\n  warren volume policy web_data\n  warren volume policy web_data --interval 30s --keep-within 1h --daily 14\n  warren volume policy web_data --reset')
    .action(async (name: string, flags: PolicyFlags & { json?: boolean }, cmd: Command) => {
      if (changesPolicy(flags)) policyFromFlags({}, flags); // a bad flag is refused before anything is asked
      const client = await clientFor(cmd);
      const path = `/v1/volumes/${encodeURIComponent(name)}/policy`;
      let view = await client.get<PolicyView>(path);
      if (changesPolicy(flags)) {
        const record = policyFromFlags(setFields({ ...view.policy, defaults: view.defaults }), flags);
        view = (await client.request<PolicyView>('PUT', path, record, { admin: true })).body;
      }
      if (flags.json) return printJson(view);
      process.stdout.write(`${renderPolicy(view)}\n`);
    });
}
