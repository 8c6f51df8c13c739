import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isUserError } from '../../src/core/errors.ts';
import { CHUNK_RECORD_HEADER, recordsOf } from '../../src/volumes/record-stream.ts';
import { prng } from '../helpers/prng.ts';

const record = (data: Buffer) => {
  const head = Buffer.alloc(CHUNK_RECORD_HEADER);
  createHash('sha256').update(data).digest().copy(head);
  head.writeUInt32LE(data.length, 32);
  return Buffer.concat([head, data]);
};

async function* piecesOf(buf: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    // a Uint8Array view, not a Buffer: what a web stream delivers
    yield new Uint8Array(buf.buffer, buf.byteOffset + at, c - at);
    at = c;
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Array<{ hash: string; data: string }>> {
  const out = [];
  for await (const r of recordsOf(body)) out.push({ hash: r.hash, data: r.data.toString('hex') });
  return out;
}

const expected = (datas: Buffer[]) => datas.map((d) => ({ hash: createHash('sha256').update(d).digest('hex'), data: d.toString('hex') }));

test('record stream: every record whole and exact, wherever the stream is cut in two or three', async () => {
  const datas = [Buffer.from('first chunk'), Buffer.alloc(0), Buffer.from('the third, a little longer than the others')];
  const stream = Buffer.concat(datas.map(record));
  for (let a = 0; a <= stream.length; a++) {
    assert.deepEqual(await collect(piecesOf(stream, [a])), expected(datas), `cut at ${a}`);
    for (let b = a; b <= stream.length; b += 7) assert.deepEqual(await collect(piecesOf(stream, [a, b])), expected(datas), `cut at ${a} and ${b}`);
  }
});

test('record stream: a record over many small pieces (one byte each, then random sizes)', async () => {
  const rand = prng(7);
  const datas = Array.from({ length: 20 }, (_, i) => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * (i % 2 ? 70_000 : 300)) }, () => Math.floor(rand() * 256))));
  const stream = Buffer.concat(datas.map(record));
  const ones = Array.from({ length: 400 }, (_, i) => i + 1);
  assert.deepEqual(await collect(piecesOf(stream, ones)), expected(datas));
  const cuts: number[] = [];
  for (let at = 0; at < stream.length; ) cuts.push((at += 1 + Math.floor(rand() * 65_536)));
  assert.deepEqual(await collect(piecesOf(stream, cuts.filter((c) => c < stream.length))), expected(datas));
});

test('record stream: a stream ending inside a record, or a record longer than any chunk, is refused', async () => {
  const stream = Buffer.concat([record(Buffer.from('whole')), record(Buffer.from('cut short'))]);
  for (const end of [stream.length - 1, stream.length - 9, CHUNK_RECORD_HEADER + 5 + 10]) {
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const r of recordsOf(piecesOf(stream.subarray(0, end), [3]))) seen.push(r.data.toString());
    }, (err) => isUserError(err) && err.code === 'bad_chunk' && /ended inside a chunk record/.test(err.message));
    assert.deepEqual(seen, ['whole'], `the whole record before the cut at ${end} was given`);
  }
  const huge = Buffer.alloc(CHUNK_RECORD_HEADER);
  huge.writeUInt32LE((1 << 20) + 1, 32);
  for (const cut of [10, 36, 40]) {
    await assert.rejects(collect(piecesOf(huge, [cut].filter((c) => c < huge.length))), (err) => isUserError(err) && /more than any chunk/.test(err.message));
  }
});
