import type { Loc } from './chunk-records.ts';

/** a lower-case hex digit's value by char code, else -1 (the store names chunks in lower-case hex only) */
const DIGIT = new Int8Array(128).fill(-1);
for (let c = 0; c < 16; c++) DIGIT[c.toString(16).charCodeAt(0)] = c;

/**
 * The chunk store's index (hash → where the chunk sits) in flat typed arrays instead of a Map of
 * hex strings to objects. A Map took ~170 bytes of JS heap per chunk (~21 MiB per GiB of ~8 KiB
 * chunks: a node holding 100 GiB of copies would pass V8's heap limit), and every full garbage
 * collection walked all of it; here an entry is ~55 bytes outside the JS heap, which the
 * collector does not walk.
 *
 * Entries are dense (hash bytes in `keys`, pack/offset/size in `vals`); `slots` is an open-
 * addressing table (linear probing) of entry numbers, keyed by the hash's first 4 bytes (SHA-256
 * bytes are uniform). A delete moves the last entry into the hole and shifts the probe run back
 * (no tombstones). Iteration must not be mixed with changes (collect, then change).
 */
export class ChunkIndex {
  private n = 0;
  private keys = new Uint32Array(8 * 1024); // 8 words (32 bytes) per entry
  private vals = new Uint32Array(3 * 1024); // pack, offset, size
  private slots = new Int32Array(2048).fill(-1);
  private mask = 2047;
  /** a hash looked up, as 8 words (no allocation per lookup) */
  private readonly probe = new Uint32Array(8);
  private readonly probeBytes = Buffer.from(this.probe.buffer);

  get size(): number {
    return this.n;
  }

  has(hash: string): boolean {
    return this.load(hash) && this.find() >= 0;
  }

  get(hash: string): Loc | undefined {
    if (!this.load(hash)) return undefined;
    const e = this.find();
    return e < 0 ? undefined : this.loc(e);
  }

  set(hash: string, loc: Loc): void {
    if (!this.load(hash)) throw new Error(`chunk index: not a SHA-256 hash: ${hash.slice(0, 70)}`);
    if (loc.offset > 0xffffffff || loc.pack > 0xffffffff || loc.size > 0xffffffff) throw new Error(`chunk index: a location out of range (pack ${loc.pack}, offset ${loc.offset})`);
    let e = this.find();
    if (e < 0) {
      if ((this.n + 1) * 10 > (this.mask + 1) * 7) this.grow();
      e = this.n++;
      if (e * 3 + 3 > this.vals.length) this.growEntries();
      this.keys.set(this.probe, e * 8);
      this.slots[this.emptySlotFor(this.probe[0]!)] = e;
    }
    this.vals[e * 3] = loc.pack;
    this.vals[e * 3 + 1] = loc.offset;
    this.vals[e * 3 + 2] = loc.size;
  }

  delete(hash: string): boolean {
    if (!this.load(hash)) return false;
    const i = this.slotOf();
    const e = this.slots[i]!;
    if (e === -1) return false;
    this.removeSlot(i);
    const last = --this.n;
    if (e !== last) {
      // the last entry fills the hole; its slot is repointed
      this.keys.copyWithin(e * 8, last * 8, last * 8 + 8);
      this.vals.copyWithin(e * 3, last * 3, last * 3 + 3);
      let j = this.keys[e * 8]! & this.mask;
      while (this.slots[j] !== last) j = (j + 1) & this.mask;
      this.slots[j] = e;
    }
    return true;
  }

  *keysHex(): IterableIterator<string> {
    for (let e = 0; e < this.n; e++) yield this.hex(e);
  }

  *entries(): IterableIterator<[string, Loc]> {
    for (let e = 0; e < this.n; e++) yield [this.hex(e), this.loc(e)];
  }

  *locs(): IterableIterator<Loc> {
    for (let e = 0; e < this.n; e++) yield this.loc(e);
  }

  /** the sum of every entry's size */
  totalSize(): number {
    let sum = 0;
    for (let e = 0; e < this.n; e++) sum += this.vals[e * 3 + 2]!;
    return sum;
  }

  /**
   * Puts the hash's bytes in `probe`; false when it is no chunk's name. Decoded here, not by
   * Buffer.write: a lookup is then ~5x faster (a peer's answer to an offer looks up ~130k).
   */
  private load(hash: string): boolean {
    if (hash.length !== 64) return false;
    const b = this.probeBytes;
    for (let i = 0; i < 32; i++) {
      const hi = hash.charCodeAt(2 * i), lo = hash.charCodeAt(2 * i + 1);
      const v = ((hi < 128 ? DIGIT[hi]! : -1) << 4) | (lo < 128 ? DIGIT[lo]! : -1);
      if (v < 0) return false;
      b[i] = v;
    }
    return true;
  }

  private keyIs(e: number): boolean {
    const k = this.keys, p = this.probe, at = e * 8;
    return k[at] === p[0] && k[at + 1] === p[1] && k[at + 2] === p[2] && k[at + 3] === p[3] && k[at + 4] === p[4] && k[at + 5] === p[5] && k[at + 6] === p[6] && k[at + 7] === p[7];
  }

  /** the entry of the hash in `probe`, or -1 */
  private find(): number {
    return this.slots[this.slotOf()]!;
  }

  /** the slot holding the hash in `probe`, else the empty slot that ends its probe run */
  private slotOf(): number {
    let i = this.probe[0]! & this.mask;
    for (let e = this.slots[i]!; e !== -1 && !this.keyIs(e); e = this.slots[i]!) i = (i + 1) & this.mask;
    return i;
  }

  private emptySlotFor(first: number): number {
    let i = first & this.mask;
    while (this.slots[i] !== -1) i = (i + 1) & this.mask;
    return i;
  }

  /** empties slot i and moves later entries of its probe run back, so every lookup still finds them */
  private removeSlot(i: number): void {
    const s = this.slots, mask = this.mask;
    s[i] = -1;
    for (let j = (i + 1) & mask; s[j] !== -1; j = (j + 1) & mask) {
      const home = this.keys[s[j]! * 8]! & mask;
      // the entry at j stays when its home lies cyclically in (i, j]
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      s[i] = s[j]!;
      s[j] = -1;
      i = j;
    }
  }

  private grow(): void {
    this.mask = this.mask * 2 + 1;
    this.slots = new Int32Array(this.mask + 1).fill(-1);
    for (let e = 0; e < this.n; e++) this.slots[this.emptySlotFor(this.keys[e * 8]!)] = e;
  }

  private growEntries(): void {
    const keys = new Uint32Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
    const vals = new Uint32Array(this.vals.length * 2);
    vals.set(this.vals);
    this.vals = vals;
  }

  private loc(e: number): Loc {
    return { pack: this.vals[e * 3]!, offset: this.vals[e * 3 + 1]!, size: this.vals[e * 3 + 2]! };
  }

  private hex(e: number): string {
    return Buffer.from(this.keys.buffer, e * 32, 32).toString('hex');
  }
}
