/**
 * @module gateway/deploy-history
 * What was deployed and removed, when, how long it took and whether it worked: the newest
 * HISTORY_LIMIT events, kept in <state>/deploy-history.json so a restarted daemon still shows
 * them (the web console's deploy history, `GET /v1/deploys`). deployments.json says only what
 * serves now; this says how it got there, failures included. Written to a temp file and
 * renamed, one write at a time, like deployments.json.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DeployResult } from "./deployer.ts";

export const HISTORY_LIMIT = 100;
/** An error message is kept to this many characters: a build error can quote a whole file. */
const ERROR_CHARS = 1000;

export interface DeployEvent {
  action: "deploy" | "remove";
  name: string;
  /** The revision that serves after it (null: it failed before one existed, or a removal). */
  revision: string | null;
  /** When it started (ISO) and how long it took (ms). */
  at: string;
  ms: number;
  ok: boolean;
  error?: string;
  /** Of a deploy: the function folder, or the image reference of `fnrun deploy --image`. */
  source?: string;
}

/** What the history wraps (the Deployer; the consumer owns the interface). */
export interface Deploys {
  deploy(fc: { name: string; dir: string }, ...rest: any[]): Promise<DeployResult>;
  deployImage(fc: { name: string; dir: string }, image: { ref: string }, ...rest: any[]): Promise<DeployResult>;
  remove(name: string): Promise<boolean>;
}

export class DeployHistory {
  readonly #file: string;
  #events: DeployEvent[] = [];
  #writing: Promise<void> = Promise.resolve();
  readonly #onError: (err: Error) => void;

  constructor(stateDir: string, onError: (err: Error) => void = () => {}) {
    this.#file = join(stateDir, "deploy-history.json");
    this.#onError = onError;
  }

  /** Reads what a previous run left; a missing or unreadable file is an empty history (it is a record, not state). */
  async load(): Promise<void> {
    const text = await readFile(this.#file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") this.#onError(new Error(`deploy history ${this.#file}: ${err.message}; starting a new one`));
      return null;
    });
    if (text === null) return;
    try {
      const parsed = JSON.parse(text) as { events?: DeployEvent[] };
      this.#events = (parsed.events ?? []).slice(-HISTORY_LIMIT);
    } catch (err) {
      this.#onError(new Error(`deploy history ${this.#file}: not JSON (${(err as Error).message}); starting a new one`));
    }
  }

  /** The newest `limit` events, newest first; only `name`'s when given. */
  recent(limit = HISTORY_LIMIT, name?: string): DeployEvent[] {
    const out: DeployEvent[] = [];
    for (let i = this.#events.length - 1; i >= 0 && out.length < limit; i--) if (!name || this.#events[i].name === name) out.push(this.#events[i]);
    return out;
  }

  add(event: DeployEvent): void {
    this.#events.push(event.error && event.error.length > ERROR_CHARS ? { ...event, error: `${event.error.slice(0, ERROR_CHARS)}…` } : event);
    if (this.#events.length > HISTORY_LIMIT) this.#events.splice(0, this.#events.length - HISTORY_LIMIT);
    this.#save();
  }

  /** Wraps `deploys`' deploy, deployImage and remove so that every one, whoever asks for it (CLI, reload, secrets, start-up), is recorded. */
  instrument<D extends Deploys>(deploys: D): D {
    const deploy = deploys.deploy.bind(deploys);
    const deployImage = deploys.deployImage.bind(deploys);
    const remove = deploys.remove.bind(deploys);
    deploys.deploy = (fc, ...rest) => this.#timed("deploy", fc.name, fc.dir, () => deploy(fc, ...rest));
    deploys.deployImage = (fc, image, ...rest) => this.#timed("deploy", fc.name, image.ref, () => deployImage(fc, image, ...rest));
    deploys.remove = (name) => this.#timed("remove", name, undefined, () => remove(name));
    return deploys;
  }

  async #timed<T>(action: DeployEvent["action"], name: string, source: string | undefined, fn: () => Promise<T>): Promise<T> {
    const at = new Date().toISOString();
    const t0 = performance.now();
    const ms = () => Math.round(performance.now() - t0);
    try {
      const result = await fn();
      // A removal of nothing is not history.
      if (action === "remove" && result === false) return result;
      const revision = action === "deploy" ? (result as DeployResult).revision : null;
      this.add({ action, name, revision, at, ms: ms(), ok: true, ...(source ? { source } : {}) });
      return result;
    } catch (err) {
      this.add({ action, name, revision: null, at, ms: ms(), ok: false, error: (err as Error).message, ...(source ? { source } : {}) });
      throw err;
    }
  }

  #save(): void {
    const snapshot = JSON.stringify({ version: 1, events: this.#events }) + "\n";
    this.#writing = this.#writing.then(async () => {
      const tmp = `${this.#file}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.#file);
    }).catch((err) => this.#onError(new Error(`deploy history ${this.#file}: cannot save: ${(err as Error).message}`)));
  }

  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void> {
    return this.#writing;
  }
}
