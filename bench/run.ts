import { cleanupAll } from '../test/helpers/agents.ts';
import { benchStartup } from './startup.ts';
import { benchGossip } from './gossip.ts';
import { printTable, recordMetrics, RESULTS_FILE, type Metric } from './results.ts';

/** `npm run bench [-- GROUP...]`: runs the named groups (default all), prints and records them. */
const GROUPS: Record<string, () => Promise<Record<string, Metric>>> = {
  startup: benchStartup,
  gossip: benchGossip,
  admission: async () => (await import('./admission.ts')).benchAdmission(),
  failover: async () => (await import('./failover.ts')).benchFailover(),
  routing: async () => (await import('./routing.ts')).benchRouting(),
  resilience: async () => (await import('./resilience.ts')).benchResilience(),
  sim: async () => (await import('./sim/index.ts')).benchSim(),
  // the node-local store, then the cluster part (3 agents: at risk, pauses, seed, 1% change, failover)
  volumes: async () => ({ ...(await (await import('./volumes.ts')).benchVolumes()), ...(await (await import('./volumes-cluster.ts')).benchVolumesCluster()) }),
  'volumes-cluster': async () => (await import('./volumes-cluster.ts')).benchVolumesCluster(),
  footprint: async () => (await import('./footprint.ts')).benchFootprint(),
  stacks: async () => ({ ...(await (await import('./stacks.ts')).benchStacks()), ...(await (await import('./stacks-deploy.ts')).benchStackDeploy()) }),
  ui: async () => (await import('./ui.ts')).benchUi(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((g) => !(g in GROUPS));
if (unknown.length) {
  console.error(`bench: unknown group ${unknown.join(', ')} (groups: ${Object.keys(GROUPS).join(', ')})`);
  process.exit(2);
}
try {
  for (const group of wanted.length ? wanted : Object.keys(GROUPS)) {
    console.log(`bench: running ${group}...`);
    const metrics = await GROUPS[group]!();
    printTable(group, metrics);
    await recordMetrics(metrics);
  }
  console.log(`\nbench: figures written to ${RESULTS_FILE}`);
} finally {
  await cleanupAll();
}
