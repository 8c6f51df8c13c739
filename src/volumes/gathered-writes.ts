import { writeSync } from 'node:fs';

/** what one write holds at most */
const GATHER_BYTES = 1 << 20;

/**
 * Writes pieces at file offsets, gathering those that follow each other into one write of up to
 * 1 MiB. Writing a restored file chunk by chunk (~8 KiB each) was ~130k writes for a 1 GiB file:
 * most of a peer's apply of a seed (4.6 s of its 12 s here), while the next peer's push ran beside it.
 * `flush` before the file is truncated, synced or closed.
 */
export class GatheredWrites {
  private readonly buf: Buffer;
  private len = 0;
  /** the file offset of buf[0] */
  private at = 0;

  /** `sizeHint`: the file's size, so a small file gets a small buffer */
  constructor(private readonly fd: number, sizeHint = GATHER_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(1, Math.min(GATHER_BYTES, sizeHint)));
  }

  write(data: Uint8Array, pos: number): void {
    if (this.len && (pos !== this.at + this.len || this.len + data.length > this.buf.length)) this.flush();
    if (data.length > this.buf.length) return writeAt(this.fd, data, pos);
    if (!this.len) this.at = pos;
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  flush(): void {
    if (!this.len) return;
    writeAt(this.fd, this.buf.subarray(0, this.len), this.at);
    this.len = 0;
  }
}

function writeAt(fd: number, data: Uint8Array, pos: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, pos + done);
}
