/**
 * @module builder/rw-lock
 * A readers-writer lock within one process. Writes to the image store (a build, a pull, an
 * unpack) are readers: many at once, each writing blobs first and the tag last. A garbage
 * collection is the writer: it runs alone, so it never sees a blob a build wrote but has not
 * tagged yet and takes it for garbage.
 */
export class RwLock {
  #readers = new Set<Promise<unknown>>();
  #writer: Promise<unknown> | null = null;

  /** Runs `fn` alongside other shared holders, never during an exclusive one. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await this.#writer.catch(() => {});
    const p = fn();
    this.#readers.add(p);
    try {
      return await p;
    } finally {
      this.#readers.delete(p);
    }
  }

  /** Runs `fn` once every shared holder is done, keeping new ones waiting until it ends. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#writer) await this.#writer.catch(() => {});
    const run = (async () => {
      while (this.#readers.size > 0) await Promise.allSettled([...this.#readers]);
      return fn();
    })();
    this.#writer = run;
    try {
      return await run;
    } finally {
      if (this.#writer === run) this.#writer = null;
    }
  }
}
