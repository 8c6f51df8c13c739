import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentDefaultsText } from '../../src/cli/up-command.ts';

test('warren up: the flags become one WARREN_ARGS line systemd splits back into the same words', () => {
  const text = agentDefaultsText(['--join', '192.168.1.10,192.168.1.11:7370', '--token', 'wrn1_abc-DEF', '--label', 'disk=ssd']);
  const line = text.split('\n').find((l) => l.startsWith('WARREN_ARGS='));
  assert.equal(line, 'WARREN_ARGS="--join 192.168.1.10,192.168.1.11:7370 --token wrn1_abc-DEF --label disk=ssd"');
  assert.equal(agentDefaultsText([]).split('\n').find((l) => l.startsWith('WARREN_ARGS=')), 'WARREN_ARGS=""');
});

test('warren up: refuses what EnvironmentFile and $WARREN_ARGS splitting cannot carry', () => {
  for (const bad of ['two words', 'a"b', "a'b", 'a$b', 'a\\b', 'a`b', '', 'tab\there']) {
    assert.throws(() => agentDefaultsText(['--name', bad]), /cannot write the agent flag/, JSON.stringify(bad));
  }
});
