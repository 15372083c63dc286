#!/usr/bin/env node
// The fnrun command. It runs from dist/fnrun.js, an esbuild bundle of the TypeScript
// sources, rebuilt whenever a source is newer (so `npx fnrun` works straight from a
// checkout, and an edit is never run stale).
import "../runtime/tick-shape.mjs"; // first: see that file
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { OUT, stale } from "../scripts/build.mjs";

// The build runs in a node process of its own, not in this one, which may become the daemon:
// with esbuild's JS API in the daemon's process, 6 of 10 daemons started while dist/ was stale
// kept node's nextTick on V8's generic path for the life of the process (4-7 µs a request in
// `perf`, ~10% of the gateway's throughput); with the build in a child, 6 of 6 did not. That was
// before tick-shape.mjs kept its object alive, and the build's full GCs may have been the way in.
// One more node start when a source changed.
if (await stale()) {
  const builder = fileURLToPath(new URL("../scripts/build.mjs", import.meta.url));
  const { status, signal, error } = spawnSync(process.execPath, [builder], { stdio: ["ignore", "inherit", "inherit"] });
  if (error || status !== 0) {
    process.stderr.write(`fnrun: building dist/fnrun.js from the sources failed (${error?.message ?? (signal ? `signal ${signal}` : `exit code ${status}`)}); run \`node scripts/build.mjs\` to see why\n`);
    process.exit(1);
  }
}
const { run } = await import(OUT);
await run(process.argv.slice(2));
