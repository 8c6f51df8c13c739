import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStack } from '../../src/core/compose/project.ts';
import type { ServiceView } from '../../src/core/service-types.ts';
import { healthSummary, lineRange, problemLines, stacksOf, warningLine } from '../../src/ui/stack-model.ts';
import { prng } from '../helpers/prng.ts';

const FILES = ['/compose.yaml', '/.env'];

/** The agent's real message for a project (what POST /v1/stacks answers with). */
function errorOf(text: string, env?: string): string {
  try {
    loadStack({ files: [{ path: '/compose.yaml', text }], environment: {}, projectName: 'shop', ...(env === undefined ? {} : { envFile: { path: '/.env', text: env } }) });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the project was accepted');
}

test("the compose check's errors are split into lines naming the pasted file and line, as the agent words them", () => {
  const lines = problemLines(errorOf('services:\n  web:\n    build: .\n    restrat: always\n'), FILES);
  assert.deepEqual(lines.map((l) => [l.file, l.line]), [['/compose.yaml', 3], ['/compose.yaml', 4]]);
  assert.match(lines[0]!.text, /^services\.web\.build: not supported/);
  assert.match(lines[1]!.text, /^services\.web\.restrat: unknown key "restrat" \(did you mean "restart"\?\)/);
  // a problem of the .env text names that one
  const env = problemLines(errorOf('services:\n  web:\n    image: a\n', 'A=1\nB="unterminated\n'), FILES);
  assert.equal(env[0]!.file, '/.env');
  assert.ok(env[0]!.line! >= 2, JSON.stringify(env));
  // a line without a position, or of a file the page did not send, stays whole
  assert.deepEqual(problemLines('a host port is published twice\n/other.yaml:3: x: y', FILES), [{ text: 'a host port is published twice' }, { text: '/other.yaml:3: x: y' }]);
});

test('warnings keep their file and line', () => {
  const { warnings } = loadStack({ files: [{ path: '/compose.yaml', text: 'version: "3"\nservices:\n  web:\n    image: a\n    tty: true\n' }], environment: {}, projectName: 'shop' });
  assert.deepEqual(warnings.map(warningLine).map((w) => [w.file, w.line, w.text.split(':')[0]]), [['/compose.yaml', 1, 'version'], ['/compose.yaml', 5, 'services.web.tty']]);
  assert.deepEqual(warningLine({ message: 'no position' }), { file: undefined, line: undefined, text: 'no position' });
});

test('lineRange selects exactly the given line of any text (seeded)', () => {
  const rand = prng(15);
  for (let i = 0; i < 500; i++) {
    const lines = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => 'ab c'.slice(0, Math.floor(rand() * 5)));
    const text = lines.join('\n');
    for (let n = 1; n <= lines.length; n++) {
      const [a, b] = lineRange(text, n);
      assert.equal(text.slice(a, b), lines[n - 1], `line ${n} of ${JSON.stringify(text)}`);
    }
  }
});

const svc = (name: string, stack: string | undefined, running: number, desired: number, health: (string | undefined)[] = []): ServiceView =>
  ({ spec: { name, stack }, running, desired, replicas: health.map((h, slot) => ({ slot, health: h, restarts: 0 })) }) as unknown as ServiceView;

test("stacks are the snapshot's services grouped by their stack, sorted, with replicas summed", () => {
  const groups = stacksOf([svc('shop-web', 'shop', 1, 2, ['healthy']), svc('lone', undefined, 1, 1), svc('blog-db', 'blog', 1, 1), svc('shop-db', 'shop', 1, 1, ['unhealthy', 'healthy', undefined])]);
  assert.deepEqual(groups.map((g) => [g.name, g.services.map((s) => s.spec.name), g.running, g.desired]), [['blog', ['blog-db'], 1, 1], ['shop', ['shop-web', 'shop-db'], 2, 3]]);
  assert.equal(healthSummary(groups[1]!.services), '2 healthy, 1 unhealthy');
  assert.equal(healthSummary(groups[0]!.services), '');
  assert.deepEqual(stacksOf([]), []);
});
