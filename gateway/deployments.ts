/**
 * @module gateway/deployments
 * The record of what is deployed, kept in <state>/deployments.json so a restarted daemon
 * (also after SIGKILL) serves the same functions. Written to a temp file and renamed, so
 * a crash mid-write leaves the previous record whole.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface DeploymentRecord {
  name: string;
  /** Absolute path of the function folder. */
  dir: string;
  revision: string;
  image: string;
  deployedAt: string;
  /** Deployed from this image reference (`fnrun deploy --image`), not built from `dir`. */
  source?: string;
}

export class DeploymentLog {
  readonly #file: string;
  readonly #records = new Map<string, DeploymentRecord>();
  #writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.#file = join(stateDir, "deployments.json");
  }

  /** Reads the record a previous run left; a missing file is an empty record. */
  async load(): Promise<DeploymentRecord[]> {
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const parsed = JSON.parse(text) as { functions?: DeploymentRecord[] };
    for (const r of parsed.functions ?? []) this.#records.set(r.name, r);
    return [...this.#records.values()];
  }

  get(name: string): DeploymentRecord | undefined {
    return this.#records.get(name);
  }

  list(): DeploymentRecord[] {
    return [...this.#records.values()];
  }

  set(record: DeploymentRecord): Promise<void> {
    this.#records.set(record.name, record);
    return this.#save();
  }

  delete(name: string): Promise<void> {
    this.#records.delete(name);
    return this.#save();
  }

  /** Writes are serialized: the file always holds one complete snapshot. */
  #save(): Promise<void> {
    const snapshot = JSON.stringify({ version: 1, functions: this.list() }, null, 2) + "\n";
    this.#writing = this.#writing.then(async () => {
      const tmp = `${this.#file}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.#file);
    });
    return this.#writing;
  }
}
