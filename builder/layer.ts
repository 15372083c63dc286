/**
 * @module builder/layer
 * A layer as a deterministic tar (sorted entries, mtime 0, uid/gid 0, no user names), so the
 * same files always give the same diff_id and, gzipped at the same level, the same digest.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Transform, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";

/** A file system entry of a layer; `path` is absolute inside the image. */
export type LayerEntry =
  | { type: "dir"; path: string; mode: number }
  | { type: "file"; path: string; mode: number; source: string }
  | { type: "file"; path: string; mode: number; content: string | Uint8Array }
  | { type: "symlink"; path: string; target: string };

export const LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";

/** What writing a layer produced. */
export interface WrittenLayer {
  /** `sha256:` of the gzipped blob. */
  digest: string;
  /** Bytes of the gzipped blob. */
  size: number;
  /** `sha256:` of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
}

/** Entries sorted by path: parents sort before their children, and the order never depends on the caller. */
export function sortEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const seen = new Map<string, LayerEntry>();
  for (const e of entries) seen.set(normalizeImagePath(e.path), e); // the last entry for a path wins
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, e]) => ({ ...e, path: p }));
}

/** `/usr//bin/` → `/usr/bin`; rejects `..` so a layer never names a path outside its root. */
export function normalizeImagePath(p: string): string {
  const parts = p.split("/").filter((s) => s && s !== ".");
  if (parts.includes("..")) throw new Error(`layer path \`${p}\` contains ".."`);
  return "/" + parts.join("/");
}

/**
 * Writes the gzipped layer of `entries` to `out` and returns its digests. The tar is hashed
 * before compression (diff_id) and the gzip stream after it (digest), in one pass, so a 100 MB
 * node binary is read once and never held in memory.
 */
export async function writeLayer(entries: readonly LayerEntry[], out: Writable, options: { level?: number } = {}): Promise<WrittenLayer> {
  const pack = tar.pack();
  const tarHash = new HashStream();
  const gzHash = new HashStream();
  const done = pipeline(pack, tarHash, createGzip({ level: options.level ?? 6 }), gzHash, out);
  try {
    for (const e of sortEntries(entries)) await addEntry(pack, e);
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
  await done;
  return { digest: `sha256:${gzHash.hex()}`, size: gzHash.bytes, diffId: `sha256:${tarHash.hex()}` };
}

const FIXED = { mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "" };

async function addEntry(pack: tar.Pack, e: LayerEntry): Promise<void> {
  const name = e.path.slice(1); // tar names are relative: "usr/local/bin/node"
  if (e.type === "dir") {
    await entry(pack, { ...FIXED, name: name + "/", type: "directory", mode: e.mode });
  } else if (e.type === "symlink") {
    await entry(pack, { ...FIXED, name, type: "symlink", linkname: e.target, mode: 0o777 });
  } else if ("content" in e) {
    const body = typeof e.content === "string" ? Buffer.from(e.content) : Buffer.from(e.content);
    await entry(pack, { ...FIXED, name, type: "file", mode: e.mode, size: body.length }, body);
  } else {
    const { size } = await stat(e.source);
    const sink = pack.entry({ ...FIXED, name, type: "file", mode: e.mode, size });
    await pipeline(createReadStream(e.source), sink);
  }
}

function entry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
}

/** Passes bytes through while hashing and counting them. */
export class HashStream extends Transform {
  #hash: Hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  hex(): string {
    return this.#hash.copy().digest("hex");
  }
}
