/**
 * @module test/builder/native-helpers
 * The fixtures with real native packages (test/fixtures/native, installed by
 * scripts/ensure-deps.sh --test) and a way to make a real addon look built for another Node.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const NATIVE = path.resolve(import.meta.dirname, "../fixtures/native");
/** better-sqlite3's addon, compiled from source at install for the node that runs here. */
export const SQLITE_NODE = path.join(NATIVE, "sqlite/node_modules/better-sqlite3/build/Release/better_sqlite3.node");

/**
 * A copy of `src` as if built for NODE_MODULE_VERSION `abi`: the exported
 * `node_register_module_v<N>` renamed (what the checker reads) and the `nm_version` of the
 * module struct its constructor registers (what node checks at dlopen) set to `abi`. Both
 * come from the same NODE_MODULE_VERSION macro in a real build for another Node.
 */
export async function patchAbi(src: string, dest: string, abi: number): Promise<void> {
  const buf = await readFile(src);
  const own = process.versions.modules;
  const from = Buffer.from(`node_register_module_v${own}`);
  const to = Buffer.from(`node_register_module_v${abi}`);
  assert.equal(from.length, to.length, "same length, so no offset moves");
  let count = 0;
  for (let i = buf.indexOf(from); i >= 0; i = buf.indexOf(from, i + 1), count++) to.copy(buf, i);
  assert.ok(count > 0, "the symbol is there");
  // The struct: int nm_version, int nm_flags, void* nm_dso_handle (NULL), in .data.
  const { stdout } = await run("readelf", ["-S", "-W", src]);
  const data = /\s\.data\s+PROGBITS\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(stdout);
  assert.ok(data, "a .data section");
  const start = parseInt(data[1], 16);
  const end = start + parseInt(data[2], 16);
  const pattern = Buffer.alloc(16);
  pattern.writeInt32LE(Number(own), 0);
  let hits = 0;
  for (let i = start; i + 16 <= end; i += 4) {
    if (buf.readInt32LE(i) === Number(own) && buf.subarray(i + 8, i + 16).equals(Buffer.alloc(8)) && buf.readInt32LE(i + 4) >= 0 && buf.readInt32LE(i + 4) < 16) {
      buf.writeInt32LE(abi, i);
      hits++;
    }
  }
  assert.equal(hits, 1, "exactly one node_module struct in .data");
  await writeFile(dest, buf);
}

