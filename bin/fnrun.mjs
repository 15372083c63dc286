#!/usr/bin/env node
// The fnrun command. TypeScript sources run through tsx's loader, so `npx fnrun` works
// straight from a checkout with no build step.
import { register } from "tsx/esm/api";

register();
const { run } = await import("../cli/main.ts");
await run(process.argv.slice(2));
