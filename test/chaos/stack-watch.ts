/**
 * The chaos run's stack (issue 12: "services (and volumes and stacks once they exist) running"): a
 * compose project of two services deployed through POST /v1/stacks at the start, `front`
 * depending on `back`. At every converged checkpoint each runs exactly one replica, both on one
 * node (a stack's services are placed together and move together), and `front` reaches `back` by
 * its service name from inside its container, as under `docker compose up`. Both count for the
 * over-replica watch (one copy each). Both say `restart: unless-stopped`, as home-lab files do: without
 * it (compose's default "no") a container the engine's restart stopped stays stopped, as under
 * compose. No published port: on a LAN of namespaces a node's address
 * is not in Docker's own network namespace, where a port would be bound.
 */
import { docker, HTTPD_IMAGE } from '../helpers/images.ts';
import type { AgentHandle } from '../helpers/agents.ts';
import { adminHeaders } from '../helpers/services.ts';
import type { ChaosNode } from './faults.ts';
import { runningOn, type Violation } from './invariants.ts';

export const STACK = 'chaos-st';
export const STACK_SERVICES = [`${STACK}-back`, `${STACK}-front`];
const BACK_SAYS = 'back says chaos';

const COMPOSE = `
name: ${STACK}
services:
  back:
    image: ${HTTPD_IMAGE}
    restart: unless-stopped
    command: ["sh", "-c", "echo '${BACK_SAYS}' > /www/index.html && exec httpd -f -p 80 -h /www"]
  front:
    image: ${HTTPD_IMAGE}
    restart: unless-stopped
    depends_on: [back]
`;

export class StackWatch {
  constructor(
    private readonly nodes: ChaosNode[],
    private readonly ids: string[],
  ) {}

  async deploy(via: AgentHandle): Promise<void> {
    const body = JSON.stringify({ files: [{ path: '/chaos/compose.yaml', text: COMPOSE }], environment: {} });
    const res = await fetch(`${via.api}/v1/stacks`, { method: 'POST', headers: await adminHeaders(via), body, signal: AbortSignal.timeout(30_000) });
    if (res.status !== 201) throw new Error(`deploying ${STACK}: ${res.status} ${await res.text()}`);
  }

  /** One pass at a checkpoint: [] when the invariant holds. */
  async check(): Promise<Violation[]> {
    const where: number[] = [];
    for (const service of STACK_SERVICES) {
      const on = await runningOn(this.nodes, this.ids, service);
      if (on?.length !== 1 || on[0]! < 0) return [{ check: 'stack', message: `${service} runs ${on ? `${on.length} replicas` : '(no node listed it)'}, wants 1` }];
      where.push(on[0]!);
    }
    const [back, front] = where as [number, number];
    if (back !== front) return [{ check: 'stack', message: `${STACK}'s services run apart (back on node ${back}, front on node ${front}): a stack is placed together` }];
    const id = (await docker('ps', '-q', '--filter', `label=warren.node=${this.ids[front]}`, '--filter', `label=warren.service=${STACK}-front`).catch(() => '')).split('\n')[0];
    if (!id) return [{ check: 'stack', message: `no container of ${STACK}-front on node ${front}, which the cluster says runs it` }];
    const got = (await docker('exec', id, 'busybox', 'timeout', '5', 'wget', '-q', '-O', '-', 'http://back/').catch((err: Error) => `(${err.message.split('\n')[0]})`)).trim();
    return got === BACK_SAYS ? [] : [{ check: 'stack', message: `${STACK}-front on node ${front} does not reach back by name: ${got}` }];
  }
}
