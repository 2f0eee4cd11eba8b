/**
 * Which deadline comes next? A binary min-heap of the work queue's deadlines, by time and then by
 * the order they were set (keys due at the same moment run in the order they were scheduled).
 * Replacing or cancelling a deadline does not search the heap: the queue's map says which entry
 * is live, and a stale one is dropped when it reaches the top.
 */
export interface Deadline {
  key: string;
  at: number;
  /** Order of scheduling: breaks ties between equal times. */
  seq: number;
  /** A reservation (hold()): the key waits for it whatever adds it meanwhile, unless woken. */
  held?: boolean;
}

function before(a: Deadline, b: Deadline): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class DeadlineHeap {
  private items: Deadline[] = [];

  get size(): number {
    return this.items.length;
  }

  push(d: Deadline): void {
    const h = this.items;
    let i = h.length;
    h.push(d);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(d, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = d;
  }

  pop(): Deadline | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) this.siftDown(last);
    return top;
  }

  /** The earliest entry that is still `live`'s entry for its key; stale ones above it are dropped. */
  peekLive(live: ReadonlyMap<string, Deadline>): Deadline | undefined {
    for (let top = this.items[0]; top; top = this.items[0]) {
      if (live.get(top.key) === top) return top;
      this.pop();
    }
    return undefined;
  }

  /** Start over from the live entries only (the stale ones outnumbered them). */
  rebuild(live: Iterable<Deadline>): void {
    const all = [...live];
    this.items = [];
    for (const d of all) this.push(d);
  }

  clear(): void {
    this.items = [];
  }

  private siftDown(d: Deadline): void {
    const h = this.items;
    const n = h.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[child]!, d)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = d;
  }
}
