/**
 * Fuzzing the compose loader (src/core/compose/*): random texts, mutated real-world files and
 * random models built from compose's own keys. Whatever the input, loading either succeeds or
 * throws a UserError `invalid_stack` whose every line names the file (and line, where the input
 * has one) and carries no stack trace; the services a loaded stack makes pass Warren's own
 * service validation; nothing hangs (each input is timed). 10,000 compose inputs in all (a whole
 * file load costs ~5 ms here, so the mutated files and random models get 2,000 each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { UserError } from '../../src/core/errors.ts';
import { SERVICE_KEYS, TOP_KEYS, NESTED_KEYS } from '../../src/core/compose/keys.ts';
import { loadStack } from '../../src/core/compose/project.ts';
import { stackServices } from '../../src/core/compose/to-services.ts';
import { parseDeployBody } from '../../src/core/compose/deploy-body.ts';
import { parseServiceInput, serviceInputBody } from '../../src/core/service-spec.ts';
import { fuzz } from '../helpers/fuzz.ts';

const DIR = '/home/me/app';
const FILE = `${DIR}/compose.yaml`;
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'compose');
const fixtures = readdirSync(FIXTURES).flatMap((app) =>
  readdirSync(join(FIXTURES, app)).filter((f) => /\.ya?ml$/.test(f)).map((f) => readFileSync(join(FIXTURES, app, f), 'utf8')),
);
/** one input may take this long at most (the slowest seen are the 200,000-node alias bombs, ~0.3 s) */
const MAX_MS = 2000;
let slowest = 0;

/** Loads `text` as compose.yaml; checks the outcome is a model or a clean UserError. */
function check(text: string, environment: Record<string, string> = {}, envText?: string): void {
  const start = performance.now();
  let result;
  try {
    result = loadStack({ files: [{ path: FILE, text }], environment, ...(envText !== undefined ? { envFile: { path: `${DIR}/.env`, text: envText } } : {}) });
  } catch (err) {
    assert.ok(err instanceof UserError, `not a UserError: ${(err as Error)?.stack ?? String(err)}`);
    assert.equal(err.code, 'invalid_stack', err.message);
    assert.equal(err.status, 400);
    for (const line of err.message.split('\n')) {
      // every problem names the file it is in (the compose file, or the .env file)
      assert.ok(line.startsWith(`${DIR}/`), `a line without its file: ${JSON.stringify(line)}`);
      assert.ok(!/\n\s+at /.test(line) && line.length > DIR.length + 3, `not a one-line problem: ${JSON.stringify(line)}`);
    }
    return;
  } finally {
    const ms = performance.now() - start;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < MAX_MS, `one input took ${Math.round(ms)} ms`);
  }
  // a loaded stack's services are ones Warren's own validation accepts (what the API will store)
  for (const input of stackServices(result.model, { nodeName: 'n1' })) {
    try {
      parseServiceInput(serviceInputBody(input));
    } catch (err) {
      assert.ok(err instanceof UserError, `stack service ${input.name} breaks the service parser: ${(err as Error).stack}`);
      assert.fail(`the stack loaded, but its service ${input.name} is refused by the service API: ${err.message}`);
    }
  }
}

/** Line-level edits of a real file: the kinds of damage a person or a truncated copy does. */
const NASTY = ['', '~', '-1', '0', '65536', '99999999999999999999', '1e400', '-.inf', '.nan', '{', '[', ']', '}', '*nope', '&a', '!!binary AAAA', '!reset', '!override null', '"\\u0000"', "'", '"', '${', '${X:?unset}', '$${Y}', '${A:-${B:-${C}}}', 'yes', '0x1F', '0o17', '12:34:56', '1g', '100000000000g', 'a'.repeat(2000), '- a', ': b', '? c', '<<: *x', '|', '>-', '#', '\t', 'é漢🙂', '../../etc/passwd', '/', 'C:\\x'];
const edit = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ op: fc.constant('value' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 30 })) }),
  fc.record({ op: fc.constant('key' as const), at: fc.nat(), key: fc.constantFrom(...Object.keys(SERVICE_KEYS), ...Object.keys(TOP_KEYS), 'x-a', 'bogus', '<<') }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never;

function applyEdit(text: string, e: Edit): string {
  const lines = text.split('\n');
  const i = e.at % Math.max(1, lines.length);
  switch (e.op) {
    case 'delete':
      lines.splice(i, 1);
      break;
    case 'duplicate':
      lines.splice(i, 0, lines[i] ?? '');
      break;
    case 'swap': {
      const j = e.to % Math.max(1, lines.length);
      [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
      break;
    }
    case 'indent':
      lines[i] = e.by >= 0 ? ' '.repeat(e.by) + (lines[i] ?? '') : (lines[i] ?? '').slice(-e.by);
      break;
    case 'value': {
      const line = lines[i] ?? '';
      const colon = line.indexOf(': ');
      lines[i] = colon >= 0 ? `${line.slice(0, colon + 2)}${e.value}` : line.replace(/^(\s*- ).*/, `$1${e.value}`);
      break;
    }
    case 'key': {
      const indent = /^\s*/.exec(lines[i] ?? '')![0];
      lines.splice(i, 0, `${indent}${e.key}: x`);
      break;
    }
    case 'truncate':
      return text.slice(0, e.at % (text.length + 1));
  }
  return lines.join('\n');
}

test('random texts: a model or one clean invalid_stack error', async () => {
  await fuzz('compose random text', fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.stringMatching(/^[a-z:\- \n{}[\]&*!$'"#|>0-9]{0,300}$/)), (text) => check(text)), 5000);
});

test('real-world files with random edits: a model or one clean invalid_stack error', async () => {
  await fuzz('compose mutated fixtures', fc.property(fc.constantFrom(...fixtures), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.dictionary(fc.stringMatching(/^[A-Z_]{1,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 4 }), (text, edits, env) => check(edits.reduce(applyEdit, text), env)), 2000);
});

/** Values of every shape and type confusion (objects, lists, numbers where strings go, ...). */
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, fc.constantFrom(...NASTY), fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.constantFrom(...Object.values(NESTED_KEYS).flat()), fc.string({ maxLength: 8 })), tie('v'), { maxKeys: 4 })),
})).v;

test('random models from compose\'s own keys and random values: a model or one clean invalid_stack error', async () => {
  const service = fc.dictionary(fc.constantFrom(...Object.keys(SERVICE_KEYS)), value, { maxKeys: 8 }).map((s) => ({ image: 'nginx', ...s }));
  const top = fc.record({
    services: fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.string({ maxLength: 12 })), service, { minKeys: 1, maxKeys: 3 }),
    more: fc.dictionary(fc.constantFrom(...Object.keys(TOP_KEYS).filter((k) => k !== 'services')), value, { maxKeys: 3 }),
  });
  await fuzz('compose random models', fc.property(top, ({ services, more }) => check(stringify({ ...more, services }))), 2000);
});

test('random .env files and variables: a model or one clean invalid_stack error', async () => {
  const base = 'services:\n  web:\n    image: nginx:${TAG:-1}\n    environment:\n      A: ${A}\n      B: "${B:?B must be set}"\n    ports: ["${PORT:-8080}:80"]\n';
  await fuzz('compose dotenv', fc.property(fc.array(fc.oneof(fc.constantFrom('TAG=1', 'A=', 'B=x', 'PORT=99999', 'PORT=abc', "A='unterminated", 'A="x\\', 'export B=1', '=x', 'B=${A', ' # c', 'PORT=${TAG}'), fc.string({ maxLength: 30 })), { maxLength: 6 }), (lines) => check(base, {}, lines.join('\n'))), 1000);
});

test('random deploy bodies: parsed or a clean UserError', async () => {
  await fuzz('compose deploy body', fc.property(fc.oneof(fc.anything(), fc.record({ files: fc.anything(), environment: fc.anything(), projectName: fc.anything(), envFile: fc.anything() }, { requiredKeys: [] })), (body) => {
    try {
      parseDeployBody(body);
    } catch (err) {
      assert.ok(err instanceof UserError && err.status === 400 && !err.message.includes('\n    at '), String((err as Error).stack));
    }
  }), 5000);
  console.log(`# slowest compose input: ${Math.round(slowest)} ms`);
});
