/**
 * @module test/builder/helpers
 * Shared bits of the builder tests: temp state dirs, reading the layout back, running tools.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const run = promisify(execFile);

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/builder");

/** A fresh temp dir; removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fnrun-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Names (hex) of every blob in a layout. */
export async function blobNames(layoutDir: string): Promise<string[]> {
  return (await readdir(path.join(layoutDir, "blobs", "sha256"))).sort();
}

export async function readJson<T = any>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, "utf8")) as T;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A snapshot of everything the store holds on disk, to prove an operation added nothing. */
export async function storeSnapshot(stateDir: string): Promise<string> {
  const images = path.join(stateDir, "images");
  const index = await readFile(path.join(images, "index.json"), "utf8");
  const blobs = await blobNames(images);
  const rootfs = await readdir(path.join(stateDir, "rootfs")).catch(() => []);
  return JSON.stringify({ index, blobs, rootfs: rootfs.sort() });
}
