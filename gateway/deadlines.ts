/**
 * @module gateway/deadlines
 * The function timeouts of the requests in flight, without a timer per request: one list per
 * timeout length (a function's requests all share its timeout, so each list is in deadline
 * order when appended to), checked by one interval every TICK_MS while any request is in
 * flight. Adding and removing are a few pointer writes; node's setTimeout/clearTimeout made a
 * Timeout object and two list operations for every request. A timeout fires up to TICK_MS late.
 */

/** How late a timeout may fire. */
export const TICK_MS = 25;

/** Something with a deadline: the list links live on it, so adding allocates nothing. */
export interface Timed {
  deadlineAt: number;
  prevTimed: Timed | null;
  nextTimed: Timed | null;
  timedList: DeadlineList | null;
  expire(): void;
}

class DeadlineList {
  head: Timed | null = null;
  tail: Timed | null = null;
}

export class Deadlines {
  readonly #lists = new Map<number, DeadlineList>();
  #timer: NodeJS.Timeout | null = null;
  #count = 0;

  /** Calls `t.expire()` once `timeoutMs` after `now` (performance.now()) unless removed first. */
  add(t: Timed, timeoutMs: number, now: number): void {
    let list = this.#lists.get(timeoutMs);
    if (!list) this.#lists.set(timeoutMs, (list = new DeadlineList()));
    t.deadlineAt = now + timeoutMs;
    t.timedList = list;
    t.prevTimed = list.tail;
    t.nextTimed = null;
    if (list.tail) list.tail.nextTimed = t;
    else list.head = t;
    list.tail = t;
    if (++this.#count === 1 && !this.#timer) {
      this.#timer = setInterval(() => this.#sweep(), TICK_MS);
      this.#timer.unref();
    }
  }

  remove(t: Timed): void {
    const list = t.timedList;
    if (!list) return;
    if (t.prevTimed) t.prevTimed.nextTimed = t.nextTimed;
    else list.head = t.nextTimed;
    if (t.nextTimed) t.nextTimed.prevTimed = t.prevTimed;
    else list.tail = t.prevTimed;
    t.prevTimed = t.nextTimed = t.timedList = null;
    this.#count--;
  }

  /** Requests being timed now. */
  get size(): number {
    return this.#count;
  }

  #sweep(): void {
    const now = performance.now();
    for (const list of this.#lists.values()) {
      // Deadline order within a list: stop at the first one still in the future.
      while (list.head && list.head.deadlineAt <= now) {
        const t = list.head;
        this.remove(t);
        t.expire();
      }
    }
    if (this.#count === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
