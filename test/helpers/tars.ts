import fc from 'fast-check';
import * as tar from 'tar-stream';

/** A tar of random entries (made with tar-stream, as a user's tool or another node would), then damaged. */
export const tarEntry = fc.record({
  name: fc.oneof(fc.constantFrom('a', 'd/', 'd/f', './x', '../up', '/abs', 'a//b', 'd/../e', ''), fc.string({ maxLength: 40 })),
  type: fc.constantFrom('file', 'directory', 'symlink', 'link', 'fifo', 'character-device', 'contiguous-file'),
  data: fc.uint8Array({ maxLength: 20_000 }),
  linkname: fc.constantFrom('a', 'd/f', 'missing', '../x'),
  pax: fc.dictionary(fc.constantFrom('mtime', 'uid', 'gid', 'WARREN.mode', 'WARREN.holes', 'WARREN.xattr.user.a', 'path'), fc.oneof(fc.constantFrom('0', '-1', '1.5', 'abc', '0:10', '5:3,1:1', '100:100000', '1e30', '', '777', 'NaN', '99999999999999999999.1'), fc.string({ maxLength: 20 })), { maxKeys: 3 }),
  mode: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 0o7777 })),
});

export async function makeTar(entries: (typeof tarEntry extends fc.Arbitrary<infer T> ? T : never)[]): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  pack.on('data', (b: unknown) => out.push(b as Buffer));
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    const withData = e.type === 'file' || e.type === 'contiguous-file';
    const header = { name: e.name || 'x', type: e.type, size: withData ? e.data.length : 0, ...(e.mode !== undefined ? { mode: e.mode } : {}), ...(e.type === 'symlink' || e.type === 'link' ? { linkname: e.linkname } : {}), pax: e.pax } as tar.Header;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (withData) pack.entry(header, Buffer.from(e.data), done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(out);
}

/** How a tar is damaged: not at all, cut, one byte changed, or replaced by garbage. */
export const damage = fc.oneof(fc.constant(undefined), fc.record({ truncate: fc.nat() }), fc.record({ flip: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), fc.record({ garbage: fc.uint8Array({ minLength: 1, maxLength: 600 }) }));

export function damaged(tarBytes: Buffer, d: typeof damage extends fc.Arbitrary<infer T> ? T : never): Buffer {
  let buf = tarBytes;
  if (d && 'truncate' in d) buf = buf.subarray(0, d.truncate % (buf.length + 1));
  if (d && 'flip' in d && buf.length) {
    buf = Buffer.from(buf);
    buf[d.flip % buf.length] = d.value;
  }
  if (d && 'garbage' in d) buf = Buffer.from(d.garbage);
  return buf;
}
