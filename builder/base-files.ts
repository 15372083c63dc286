/**
 * @module builder/base-files
 * The host files a base image needs to run Node: the node binary that runs fnrun
 * itself and the shared libraries it links, found with ldd(1).
 */
import { execFile } from "node:child_process";
import { realpath } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A host file to copy into an image: `source` on the host, `target` inside the image. */
export interface HostFile {
  source: string;
  target: string;
}

/** Where the node binary lives inside every fnrun base image. */
export const NODE_PATH_IN_IMAGE = "/usr/local/bin/node";

/**
 * Lists the node binary and every library it links. Targets keep the paths the dynamic
 * loader asks for (`/lib64/ld-linux-x86-64.so.2`, `/lib/x86_64-linux-gnu/libc.so.6`);
 * sources are resolved through symlinks so the image gets regular files.
 */
export async function nodeRuntimeFiles(execPath: string = process.execPath): Promise<HostFile[]> {
  const { stdout } = await run("ldd", [execPath], { env: { PATH: "/usr/bin:/bin", LC_ALL: "C" } });
  const files: HostFile[] = [{ source: await realpath(execPath), target: NODE_PATH_IN_IMAGE }];
  for (const line of stdout.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (!m) continue; // linux-vdso has no file
    files.push({ source: await realpath(m[1]), target: m[1] });
  }
  return files;
}
