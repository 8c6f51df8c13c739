import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAll } from '../helpers/agents.ts';
import { createLan, cleanupAllLans } from '../helpers/netns.ts';
import { nsJson, nsLog, startNsAgents } from '../helpers/ns-agents.ts';
import { waitFor } from '../helpers/wait.ts';

after(async () => {
  await cleanupAllLans().catch((err: unknown) => console.error('# netns cleanup:', err));
  await cleanupAll();
});

test('5 fresh agents started at the same instant on one LAN (mDNS, no --join) end as ONE cluster', { timeout: 150_000 }, async () => {
  const lan = await createLan({ prefix: 'wfd', hosts: 5, rootAddress: true });
  const agents = await startNsAgents(lan, ['--open']);
  try {
    await waitFor('all 5 admitted', async () => {
      for (const a of agents) {
        if (a.child.exitCode !== null) throw new Error(`${a.name} exited: ${nsLog(a).slice(-500)}`);
        if ((await nsJson(a, '/v1/admission')).phase !== 'member') return false;
      }
      return true;
    }, 120_000, 250);
    const views = await Promise.all(agents.map((a) => nsJson(a, '/v1/admission')));
    const clusters = new Set(views.map((v) => v.clusterId));
    assert.equal(clusters.size, 1, `clusters formed: ${[...clusters].join(', ')}`);
    assert.equal(agents.filter((a) => nsLog(a).includes('founding a new cluster')).length, 1, 'exactly one node founded');
    await waitFor('3 voters', async () => (await nsJson(agents[0]!, '/v1/admission')).voters.filter((v: any) => !v.isLearner).length === 3, 60_000, 250);
  } finally {
    await lan.cleanup();
  }
});
