/**
 * @module builder/unpack
 * Applies one gzipped layer to a directory, the way image-spec layer.md describes: entries
 * added or replaced, `.wh.<name>` deleting `<name>` from lower layers, `.wh..wh..opq` emptying a
 * directory of its lower contents. Nothing may land outside the directory.
 */
import { createReadStream } from "node:fs";
import { chmod, link, lstat, mkdir, readdir, rm, symlink, open } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { ImageError } from "./errors.ts";
import { HashStream } from "./layer.ts";

/** tar-stream's entry body (a streamx Readable). */
type EntryStream = tar.ExtractEvents["entry"][1];

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_WHITEOUT = ".wh..wh..opq";

export interface AppliedLayer {
  /** `sha256:` of the gzipped blob as read. */
  digest: string;
  /** `sha256:` of the tar inside it. */
  diffId: string;
}

/**
 * Applies the layer blob at `blobPath` to `root`. Files are replaced by unlinking first, never
 * written in place, because `root` may be a hard-link clone of a parent rootfs whose inodes must
 * not change. Returns the digests seen, so the caller can check the blob against its descriptor.
 */
export async function applyLayer(blobPath: string, root: string): Promise<AppliedLayer> {
  const gzHash = new HashStream();
  const tarHash = new HashStream();
  const extract = tar.extract();
  const ownPaths = new Set<string>(); // paths this layer wrote: an opaque whiteout keeps these
  const opaqueDirs: string[] = [];

  extract.on("entry", (header, stream, next) => {
    applyEntry(root, header, stream, ownPaths, opaqueDirs).then(
      () => next(),
      (err) => {
        stream.resume();
        next(err);
      },
    );
  });
  await pipeline(createReadStream(blobPath), gzHash, createGunzip(), tarHash, extract);
  // Opaque directories are emptied of what lower layers put there, after the fact, so entries of
  // this layer under them survive whatever the order inside the tar.
  for (const dir of opaqueDirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const child = path.join(dir, name);
      if (!ownPaths.has(child)) await rm(child, { recursive: true, force: true });
    }
  }
  return { digest: `sha256:${gzHash.hex()}`, diffId: `sha256:${tarHash.hex()}` };
}

async function applyEntry(
  root: string,
  header: tar.Header,
  stream: EntryStream,
  ownPaths: Set<string>,
  opaqueDirs: string[],
): Promise<void> {
  const rel = safeRelative(header.name);
  if (rel === "") {
    // "./" itself: the root keeps its own mode.
    stream.resume();
    return;
  }
  const target = path.join(root, rel);
  const parent = path.dirname(target);
  const base = path.basename(target);
  await ensureParents(root, parent);

  if (base === OPAQUE_WHITEOUT) {
    stream.resume();
    opaqueDirs.push(parent);
    return;
  }
  if (base.startsWith(WHITEOUT_PREFIX)) {
    stream.resume();
    await rm(path.join(parent, base.slice(WHITEOUT_PREFIX.length)), { recursive: true, force: true });
    return;
  }
  ownPaths.add(target);
  // setuid/setgid bits are dropped: the rootfs sits on the host, where a setuid-root binary from
  // an untrusted image would be a way up for any local user (inside, no_new_privs voids them anyway).
  const mode = (header.mode ?? 0o644) & 0o1777;
  const existing = await lstat(target).catch(() => null);

  switch (header.type) {
    case "directory":
      stream.resume();
      if (existing && !existing.isDirectory()) await rm(target, { recursive: true, force: true });
      if (!existing || !existing.isDirectory()) await mkdir(target);
      await chmod(target, mode);
      return;
    case "file":
    case "contiguous-file": {
      if (existing) await rm(target, { recursive: true, force: true });
      const fh = await open(target, "wx", 0o600);
      try {
        for await (const chunk of stream as unknown as AsyncIterable<Buffer>) await fh.write(chunk);
        await fh.chmod(mode);
      } finally {
        await fh.close();
      }
      return;
    }
    case "symlink": {
      stream.resume();
      const linkname = header.linkname ?? "";
      // An absolute target is resolved inside the container's root by the kernel after
      // pivot_root; a relative one must not climb out of the rootfs for anyone on the host.
      if (!path.isAbsolute(linkname)) {
        const resolved = path.resolve(parent, linkname);
        if (resolved !== root && !resolved.startsWith(root + path.sep)) unsafe(header.name, `symlink to \`${linkname}\` points outside the rootfs`);
      }
      if (existing) await rm(target, { recursive: true, force: true });
      await symlink(linkname, target);
      return;
    }
    case "link": {
      stream.resume();
      const source = path.join(root, safeRelative(header.linkname ?? ""));
      await ensureParents(root, path.dirname(source));
      const st = await lstat(source).catch(() => null);
      if (!st || st.isDirectory()) unsafe(header.name, `hard link to \`${header.linkname}\`, which is not a file of this image`);
      if (existing) await rm(target, { recursive: true, force: true });
      await link(source, target);
      return;
    }
    default:
      // Device nodes and fifos: runc provides /dev; a function image has no use for them.
      stream.resume();
      return;
  }
}

/** Entry name → path relative to the root; refuses absolute names and `..`. */
function safeRelative(name: string): string {
  if (name.startsWith("/")) unsafe(name, "absolute path");
  const parts = name.split("/").filter((s) => s && s !== ".");
  if (parts.includes("..")) unsafe(name, 'path contains ".."');
  return parts.join("/");
}

/**
 * Creates missing parent directories (0755) and refuses a parent that is a symlink: writing
 * through one would follow it, possibly out of the rootfs.
 */
async function ensureParents(root: string, dir: string): Promise<void> {
  const rel = path.relative(root, dir);
  if (!rel) return;
  let cur = root;
  for (const part of rel.split(path.sep)) {
    cur = path.join(cur, part);
    const st = await lstat(cur).catch(() => null);
    if (!st) await mkdir(cur, { mode: 0o755 });
    else if (st.isSymbolicLink()) unsafe(path.relative(root, cur), "a path goes through a symlink");
    else if (!st.isDirectory()) unsafe(path.relative(root, cur), "a path goes through a file");
  }
}

function unsafe(name: string, why: string): never {
  throw new ImageError("FNRUN_IMAGE_UNSAFE", `unpack layer entry \`${name}\`: ${why}; refused`);
}
