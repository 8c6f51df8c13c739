import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterVersions, compareVersions, FEATURES, parseVersion, requireFeature } from '../../src/core/versions.ts';
import { validateMessage } from '../../src/core/gossip-messages.ts';
import { parseServiceInput } from '../../src/core/service-spec.ts';
import { VERSION } from '../../src/version.ts';
import { prng } from '../helpers/prng.ts';

test('versions order as semantic versions; pre-releases before their release; junk lowest', () => {
  const ordered = ['junk', '0.1.0', '0.1.1', '0.2.0-rc.1', '0.2.0-rc.2', '0.2.0-rc.10', '0.2.0', '0.2.1', '0.10.0', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-beta', '1.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(Math.sign(compareVersions(ordered[i]!, ordered[j]!)), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareVersions('v1.2', '1.2.0'), 0);
  assert.equal(compareVersions('1.2.3+build.5', '1.2.3'), 0);
  assert.equal(parseVersion('1.2.3.4'), undefined);
  // a total order: sorting shuffled copies always gives the same list
  const rnd = prng(7);
  for (let k = 0; k < 50; k++) {
    const shuffled = [...ordered].sort(() => rnd() - 0.5);
    assert.deepEqual(shuffled.sort(compareVersions), ordered);
  }
});

test('the feature level is the lowest version of the members that are up', () => {
  const v = clusterVersions([
    { name: 'a', state: 'alive', version: '0.3.0' },
    { name: 'b', state: 'suspect', version: '0.2.0' },
    { name: 'c', state: 'dead', version: '0.1.0' },
    { name: 'd', state: 'left', version: '0.1.0' },
    { name: 'e', state: 'pending' },
  ], [{ name: 'x', since: '0.3.0', what: 'the x thing' }, { name: 'y', since: '0.2.0', what: 'y' }]);
  assert.equal(v.level, '0.2.0');
  assert.deepEqual(v.nodes, [{ name: 'a', version: '0.3.0' }, { name: 'b', version: '0.2.0' }]);
  assert.equal(v.mixed, true);
  assert.deepEqual(v.features.map((f) => [f.name, f.ready, f.waitingFor.map((n) => n.name)]), [['x', false, ['b']], ['y', true, []]]);
  assert.throws(() => requireFeature(v, 'x'), (err: Error & { code?: string; status?: number }) => {
    assert.equal(err.code, 'feature_waits');
    assert.equal(err.status, 409);
    assert.equal(err.message, 'the x thing needs every node at version 0.3.0 or later; upgrade b (0.2.0) first (warren status shows the versions)');
    return true;
  });
  requireFeature(v, 'y');
  // a node that sends no version counts as the oldest
  assert.equal(clusterVersions([{ name: 'a', state: 'alive', version: '1.0.0' }, { name: 'old', state: 'alive' }]).level, 'unknown');
  assert.equal(clusterVersions([]).level, null);
  const same = clusterVersions([{ name: 'a', state: 'alive', version: VERSION }, { name: 'b', state: 'alive', version: VERSION }]);
  assert.equal(same.mixed, false);
  assert.ok(same.features.every((f) => f.ready), 'this build has every feature it knows');
  assert.ok(FEATURES.every((f) => compareVersions(f.since, VERSION) <= 0));
});

test('a newer node\'s messages and records with fields this version does not know are accepted', () => {
  const health = { cpuLoad: 0.1, memUsedBytes: 1, memTotalBytes: 2, diskFreeBytes: 3, containers: 0, uptimeMs: 4, gpuLoad: 0.5 };
  const id = '12D3KooWHxXqRRmxNB3zFmSpZ2WXZBLAcvWLHGRtNXG1CNt4YjQ6';
  const hb = { type: 'heartbeat', id, incarnation: 1, name: 'n', addr: '10.0.0.1', api: 'http://10.0.0.1:7370', p2p: [], version: '9.0.0', role: 'client', health, zone: 'attic', features: ['x'] };
  const v = validateMessage('warren/health', id, new TextEncoder().encode(JSON.stringify(hb)));
  assert.ok(v.ok, JSON.stringify(v));
  const rumor = validateMessage('warren/membership', id, new TextEncoder().encode(JSON.stringify({ type: 'rumor', id, about: 'x', state: 'dead', incarnation: 1, why: 'new' })));
  assert.ok(rumor.ok);
  const ev = { id: 'e1', topic: 'warren/events/node.dead', name: 'node.dead', time: 1, source: { id, name: 'n', zone: 'z' }, payload: {}, trace: 'abc' };
  assert.ok(validateMessage('warren/events/node.dead', id, new TextEncoder().encode(JSON.stringify(ev))).ok);
  // user input stays strict (a typo is named), which is why the CLI sends a new field only when used
  assert.throws(() => parseServiceInput({ name: 'web', image: 'nginx', futureField: 1 }), /unknown field "futureField"/);
});
