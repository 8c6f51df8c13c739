/** The README's compose key table says what src/core/compose/keys.ts does, key for key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_KEYS, TOP_KEYS } from '../../src/core/compose/keys.ts';
import { project, refused, warningLines } from '../helpers/compose.ts';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
const section = README.slice(README.indexOf('### The compose key table'));
const rows = new Map<string, string>();
for (const m of section.matchAll(/^\| `([a-z_*-]+)` \| ([^|]+) \|/gm)) rows.set(m[1]!, m[2]!.trim());

test('every service and top-level key is in the README table with its verdict', () => {
  for (const [key, rule] of [...Object.entries(SERVICE_KEYS), ...Object.entries(TOP_KEYS)]) {
    const verdict = rows.get(key);
    assert.ok(verdict, `${key} is missing from the README table`);
    assert.equal(verdict, rule.verdict === 'ignored' ? 'ignored, with a warning' : rule.verdict, key);
  }
});

test('each ignored service key warns and each refused one is an error, with its note', () => {
  for (const [key, rule] of Object.entries(SERVICE_KEYS)) {
    if (rule.verdict === 'honoured' || key === 'build') continue; // build: with image: is only warned about (compose-errors.test.ts)
    const text = `services:\n  a:\n    image: x\n    ${key}: whatever\n`;
    if (rule.verdict === 'ignored') {
      const r = project({ 'compose.yaml': text });
      assert.deepEqual(warningLines(r), [`/home/me/app/compose.yaml:4: services.a.${key}: ignored: ${rule.note}`], key);
    } else {
      assert.deepEqual(refused({ 'compose.yaml': text }), [`/home/me/app/compose.yaml:4: services.a.${key}: not supported: ${rule.note}`], key);
    }
  }
});
