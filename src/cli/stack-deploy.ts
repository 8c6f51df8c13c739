/** `warren deploy`: send a compose project to the agent, then follow its services until they run. */
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { formatProblem, type Problem } from '../core/compose/diagnostics.ts';
import type { StackStep } from '../core/compose/to-services.ts';
import type { ServiceView } from '../core/service-types.ts';
import { readProject, type ProjectOptions } from '../stacks/read-project.ts';
import type { StackView } from '../stacks/stack-manager.ts';
import { clientFor, type ApiClient } from './client.ts';
import { printJson, yellow } from './output.ts';

export interface DeployFlags {
  dryRun?: boolean;
  detach?: boolean;
  timeout?: string;
  json?: boolean;
}

interface DeployAnswer {
  stack: string;
  dryRun: boolean;
  plan: StackStep[];
  warnings: Problem[];
}

const VERBS: Record<StackStep['action'], string> = { create: 'create', update: 'update', unchanged: 'unchanged', remove: 'remove' };

export function describeStep(s: StackStep): string {
  if (s.action === 'update') return `${s.service}: update (${s.restarts ? 'containers replaced, one replica at a time' : 'replicas or placement only'})`;
  return `${s.service}: ${VERBS[s.action]}`;
}

/** One line per service for people: "shop-web: 1/1 running" (with the first reason when not). */
export function serviceLine(v: ServiceView): string {
  const current = v.replicas.filter((r) => r.generation === v.spec.generation);
  const running = current.filter((r) => r.state === 'running').length;
  const pulling = v.replicas.find((r) => r.state === 'pulling');
  const why = v.replicas.find((r) => r.state !== 'running' && r.reason)?.reason ?? (pulling ? `pulling ${pulling.progress ?? 'the image'}` : v.pending);
  return `${v.spec.name}: ${running}/${v.desired} running${why && running < v.desired ? ` (${why})` : ''}`;
}

const settled = (v: ServiceView) => v.replicas.filter((r) => r.generation === v.spec.generation && r.state === 'running').length >= v.desired;

/** Polls the stack until every service runs at its current generation, printing each change. */
async function follow(client: ApiClient, name: string, timeoutMs: number, say: (line: string) => void): Promise<boolean> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { stack } = await client.get<{ stack: StackView }>(`/v1/stacks/${encodeURIComponent(name)}`);
    for (const v of stack.services) {
      const line = serviceLine(v);
      if (seen.get(v.spec.name) !== line) say(line);
      seen.set(v.spec.name, line);
    }
    if (stack.services.every(settled)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export async function runDeploy(cmd: Command, project: ProjectOptions, flags: DeployFlags): Promise<void> {
  const timeoutS = Number(flags.timeout ?? 120);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UserError('bad_flag', `--timeout must be a number of seconds above 0, got "${flags.timeout}"`);
  const input = readProject(project);
  const client = await clientFor(cmd);
  const say = (line: string) => (flags.json ? process.stderr : process.stdout).write(line + '\n');
  const { body } = await client.request<DeployAnswer>('POST', '/v1/stacks', { ...input, dryRun: Boolean(flags.dryRun) }, { admin: true });
  for (const w of body.warnings) process.stderr.write(`${yellow('warning:')} ${formatProblem(w)}\n`);
  if (flags.json && (flags.dryRun || flags.detach)) return printJson(body);
  say(`${flags.dryRun ? 'would deploy' : 'deploying'} stack ${body.stack}:`);
  for (const s of body.plan) say(`  ${describeStep(s)}`);
  if (flags.dryRun || flags.detach) return;
  const timeoutMs = timeoutS * 1000;
  const ok = await follow(client, body.stack, timeoutMs, (l) => say(`  ${l}`));
  if (flags.json) printJson(body);
  if (!ok) {
    process.stderr.write(`warren: not every service of ${body.stack} runs after ${timeoutMs / 1000} s (see warren stack ps ${body.stack})\n`);
    process.exitCode = 1;
  } else say(`stack ${body.stack} deployed`);
}
