/**
 * @module builder/rootfs
 * Unpacked root file systems, one per chain of layers, under `<state>/rootfs/<chain id hex>`.
 * A rootfs is unpacked into a temp directory and renamed into place: the rename is the ready
 * marker, so a directory under its final name is always complete, concurrent callers never see
 * half a rootfs, and a crash leaves only a temp directory that the next init() removes.
 */
import { execFile } from "node:child_process";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { ImageError } from "./errors.ts";
import { exists, removeOrphans, tempName } from "./fs-util.ts";
import { chainId, digestHex } from "./oci-image.ts";
import { applyLayer } from "./unpack.ts";

const run = promisify(execFile);
const TEMP_PREFIX = ".tmp-";

/** The layer facts the cache needs. */
export interface RootfsLayer {
  digest: string;
  diffId: string;
}

export class RootfsCache {
  readonly dir: string;
  readonly #blobPath: (digest: string) => string;
  /** Unpacks in progress in this process, so concurrent callers share one. */
  readonly #pending = new Map<string, Promise<string>>();

  constructor(dir: string, blobPath: (digest: string) => string) {
    this.dir = dir;
    this.#blobPath = blobPath;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await removeOrphans(this.dir, TEMP_PREFIX);
  }

  /** The rootfs path of a stack of layers (bottom first), unpacking what is missing. */
  rootfsOf(layers: readonly RootfsLayer[]): Promise<string> {
    if (layers.length === 0) throw new ImageError("FNRUN_IMAGE_CORRUPT", "unpack rootfs: image has no layers");
    const key = digestHex(chainId(layers.map((l) => l.diffId)));
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#ensure(key, layers).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #ensure(key: string, layers: readonly RootfsLayer[]): Promise<string> {
    const final = path.join(this.dir, key);
    if (await exists(final)) return final;
    // The parent chain's rootfs is cached too: every function image shares the base's.
    const parent = layers.length > 1 ? await this.rootfsOf(layers.slice(0, -1)) : null;
    const tmp = path.join(this.dir, tempName(TEMP_PREFIX));
    const top = layers[layers.length - 1];
    try {
      if (parent) {
        // Hard-link clone: files are shared with the parent (the 100 MB node binary is not
        // copied); applyLayer replaces files by unlink + create, so the parent's stay intact.
        await run("cp", ["-a", "-l", "--", parent, tmp]);
      } else {
        await mkdir(tmp, { mode: 0o755 });
      }
      const applied = await applyLayer(this.#blobPath(top.digest), tmp);
      if (applied.digest !== top.digest || applied.diffId !== top.diffId) {
        throw new ImageError("FNRUN_IMAGE_CORRUPT", `unpack layer \`${top.digest}\`: content has digest ${applied.digest} and diff_id ${applied.diffId}, expected ${top.digest} and ${top.diffId}`);
      }
      try {
        await rename(tmp, final);
      } catch (err) {
        // Another process renamed its copy first: that one is complete, use it.
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === "ENOTEMPTY" || code === "EEXIST") && (await exists(final))) await rm(tmp, { recursive: true, force: true });
        else throw err;
      }
      return final;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (err instanceof ImageError) throw err;
      throw new ImageError("FNRUN_ROOTFS_FAILED", `unpack layer \`${top.digest}\` into \`${final}\`: ${(err as Error).message}`, { cause: err });
    }
  }
}
