#!/usr/bin/env node
// The fnrun command. It runs from dist/fnrun.js, an esbuild bundle of the TypeScript
// sources, rebuilt here whenever a source is newer (so `npx fnrun` works straight from a
// checkout, and an edit is never run stale).
import "./tick-shape.mjs"; // first: see that file
import { build, OUT, stale } from "../scripts/build.mjs";

if (await stale()) await build();
const { run } = await import(OUT);
await run(process.argv.slice(2));
