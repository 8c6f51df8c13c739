/** A discrete-event queue: a binary heap by time, FIFO among equal times (so runs replay exactly). */
export class EventQueue<E> {
  private heap: { at: number; seq: number; e: E }[] = [];
  private seq = 0;
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, e: E): void {
    const h = this.heap;
    h.push({ at: Math.max(at, this.now), seq: this.seq++, e });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** The next event (the clock moves to its time), or undefined when none is due by `until`. */
  pop(until: number): E | undefined {
    const h = this.heap;
    if (h.length === 0 || h[0]!.at > until) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    this.now = top.at;
    return top.e;
  }

  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}
