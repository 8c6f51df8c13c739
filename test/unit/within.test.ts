import { test } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../../src/system/within.ts';

const after = <T>(ms: number, value: T, fail = false) => new Promise<T>((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

test('within: the work settles first: its value or its error', async () => {
  assert.equal(await within(after(5, 'done'), 500, 'the work'), 'done');
  await assert.rejects(within(after(5, 'broken', true), 500, 'the work'), /broken/);
});

test('within: work that never settles is cut off at the deadline, naming it', { timeout: 5000 }, async () => {
  await assert.rejects(within(new Promise<never>(() => undefined), 20, 'reading etcd'), /reading etcd took longer than 20 ms/);
});
