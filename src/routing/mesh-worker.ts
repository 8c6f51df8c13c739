/**
 * The mesh's forwarder process (started by the agent, see mesh-process.ts): the L4 forwards of
 * the stacks' routing mesh and names (l4-forwarder.ts) run here, so bulk traffic through them
 * never delays the agent's gossip, etcd and Docker work. The agent sends each new plan over IPC
 * ({ t: 'apply', seq, forwards, access }); the worker answers { t: 'applied', seq, keys, guards }
 * once it listens where the plan says (guards: each guard's port, by guard id). It exits when the agent goes (IPC disconnect; also `setpriv --pdeathsig`).
 *
 * argv[2]: JSON { logLevel, name }
 */
import type { LogLevel } from '../core/agent-config.ts';
import type { Forward } from '../core/mesh/forward-plan.ts';
import { L4Forwarder, type ForwarderAccess } from './l4-forwarder.ts';
import { createWorkerLogger } from './worker-logger.ts';

export type ToMeshWorker = { t: 'apply'; seq: number; forwards: Forward[]; access?: ForwarderAccess };
export type FromMeshWorker = { t: 'ready' } | { t: 'applied'; seq: number; keys: string[]; guards: Record<string, number> };

function main(): void {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('warren mesh worker: must be started by the agent (no IPC channel)\n');
    process.exit(2);
  }
  const cfg = JSON.parse(process.argv[2] ?? '{}') as { logLevel?: LogLevel; name?: string };
  const log = createWorkerLogger(cfg.logLevel ?? 'info', { name: cfg.name, component: 'mesh-worker' });
  const forwarder = new L4Forwarder(log);
  const post = (m: FromMeshWorker) => {
    if (process.connected) send(m, undefined, undefined, () => undefined);
  };
  // plans are applied one at a time, in order; only the newest waiting one matters
  let pending: ToMeshWorker | undefined;
  let busy = false;
  const drain = async () => {
    if (busy) return;
    busy = true;
    while (pending) {
      const m = pending;
      pending = undefined;
      await forwarder.apply(m.forwards, m.access).catch((err: Error) => log.warn({ err: err.message }, 'mesh worker: apply failed'));
      post({ t: 'applied', seq: m.seq, keys: forwarder.keys(), guards: forwarder.guardPorts() });
    }
    busy = false;
  };
  process.on('message', (raw: unknown) => {
    const m = raw as ToMeshWorker;
    if (m && m.t === 'apply' && Array.isArray(m.forwards) && typeof m.seq === 'number') {
      pending = m;
      void drain();
    }
  });
  process.on('disconnect', () => void forwarder.close().finally(() => process.exit(0)));
  post({ t: 'ready' });
}

main();
