/**
 * @module runtime/bootstrap/build
 * Bundles the in-container bootstrap (server.ts) into one ESM file for the base image.
 */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

let bundle: Promise<string> | undefined;

/** The bootstrap as one ESM source string (built once per process). */
export function bootstrapBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [fileURLToPath(new URL("./server.ts", import.meta.url))],
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
