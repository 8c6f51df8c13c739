/** `warren stack config` through the real CLI, with no agent running. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { WARREN_BIN } from '../helpers/agents.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'compose');
// no agent: an API address nothing listens on, so a command that needed one would fail
const run = (args: string[], cwd: string) => spawnSync(WARREN_BIN, args, { cwd, encoding: 'utf8', env: { ...process.env, WARREN_API: 'http://127.60.0.250:1', NO_COLOR: '1' } });

test('stack config prints the normalised model as YAML and the warnings on stderr, without an agent', () => {
  const r = run(['stack', 'config'], join(FIXTURES, 'gitea'));
  assert.equal(r.status, 0, r.stderr);
  const model = parse(r.stdout);
  assert.equal(model.name, 'gitea');
  assert.deepEqual(model.services.map((s: { warrenName: string }) => s.warrenName), ['gitea-server', 'gitea-db']);
  const warnings = r.stderr.trim().split('\n');
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^warning: .*docker-compose\.yml:1: networks: /);
});

test('stack config --json, -f several files, -p', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stacks-config-'));
  try {
    writeFileSync(join(dir, 'a.yaml'), 'services:\n  web:\n    image: nginx:${TAG:-1}\n    tty: true\n');
    writeFileSync(join(dir, 'b.yaml'), 'services:\n  web:\n    ports: ["8080:80"]\n');
    writeFileSync(join(dir, 'vars'), 'TAG=2\n');
    const r = run(['stack', 'config', '-f', 'a.yaml', '-f', 'b.yaml', '--env-file', 'vars', '-p', 'shop', '--json'], dir);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.model.name, 'shop');
    assert.equal(out.model.services[0].image, 'nginx:2');
    assert.deepEqual(out.model.services[0].ports, [{ target: 80, protocol: 'tcp', published: 8080 }]);
    assert.deepEqual(out.warnings, [{ file: join(dir, 'a.yaml'), line: 4, path: 'services.web.tty', message: 'ignored: no terminal is attached under Warren' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: exit 1, one line per problem, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stacks-config-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    build: .\n  db:\n    image: postgres\n    depends_on: [cache]\n');
    const r = run(['stack', 'config'], dir);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, /^warren: .*compose\.yaml:3: services\.web\.build: not supported: Warren runs images/);
    assert.match(lines[1]!, /compose\.yaml:6: services\.db\.depends_on\.cache: depends on "cache", which is not a service of this file$/);
    assert.doesNotMatch(r.stderr, /    at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
