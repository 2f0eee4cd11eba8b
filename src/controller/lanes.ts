/**
 * The order in which queued keys run (issue 19, point 2): fair between namespaces, and keys whose
 * deadline came due (scheduled renewals, retries) before keys added by watch events.
 *
 * Each namespace has its own FIFO lane, served round-robin: a namespace that queues 10,000 keys
 * (an annotation loop, a burst of identities) delays another namespace's next key by at most one
 * key per busy namespace, not by its whole backlog. Keys are "namespace/name".
 */
export class FairLanes {
  /** Keys whose deadline passed (renewal time, requeueAfter, retry): served first. */
  private readonly due = new Map<string, string[]>();
  private readonly events = new Map<string, string[]>();
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(key: string, due: boolean): void {
    const slash = key.indexOf('/');
    const namespace = slash < 0 ? '' : key.slice(0, slash);
    const lanes = due ? this.due : this.events;
    let lane = lanes.get(namespace);
    if (!lane) lanes.set(namespace, (lane = []));
    lane.push(key);
    this.count++;
  }

  /** The next key: the first key of the namespace served longest ago, due keys first. */
  shift(): string | undefined {
    for (const lanes of [this.due, this.events]) {
      const first = lanes.entries().next();
      if (first.done) continue;
      const [namespace, lane] = first.value;
      const key = lane.shift()!;
      // Round-robin: this namespace goes to the back of the line.
      lanes.delete(namespace);
      if (lane.length > 0) lanes.set(namespace, lane);
      this.count--;
      return key;
    }
    return undefined;
  }

  clear(): void {
    this.due.clear();
    this.events.clear();
    this.count = 0;
  }
}
