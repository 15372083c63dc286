/**
 * @module runtime/bootstrap/build
 * Bundles the in-container bootstrap (server.ts) into one ESM file for the base image.
 */
import { build } from "esbuild";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

let bundle: Promise<string> | undefined;

/** server.ts beside this file, or, when running from a dist/ bundle chunk, in the source tree above it. */
function serverSource(): string {
  for (const rel of ["./server.ts", "../runtime/bootstrap/server.ts", "../../runtime/bootstrap/server.ts"]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`bootstrap source runtime/bootstrap/server.ts not found from ${import.meta.url}`);
}

/** The bootstrap as one ESM source string (built once per process). */
export function bootstrapBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [serverSource()],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    write: false,
    minify: false,
    legalComments: "none",
    logLevel: "silent",
  }).then((r) => r.outputFiles[0].text).catch((err: unknown) => {
    bundle = undefined; // let a later call retry
    throw err;
  });
  return bundle;
}
