/**
 * @module runtime/bootstrap/server
 * Runs INSIDE every container, with the image's node: imports the function's bundle and serves
 * it. One image, three ways to run (runtime/README.md "The bootstrap"):
 *
 * - under fnrun's runtime (FNRUN_SOCKET_DIR set): HTTP on `<dir>/fn.sock` for the daemon,
 *   stem cells included (socket-mode.ts);
 * - anywhere else (docker run, Kubernetes, runc by hand): HTTP on TCP `0.0.0.0:$PORT`, PORT
 *   defaulting to 8080, with a health probe and a drain on SIGTERM (standalone.ts);
 * - `FNRUN_RUN=scheduled` (or the first argument `scheduled`): one scheduled() run, then exit
 *   with its outcome (scheduled-once.ts).
 *
 * Bundled into one file (build.ts), with no dependency: requests and responses are the light
 * fetch classes of web/, installed as the globals before the function is imported.
 */
import "../tick-shape.mjs"; // first, before anything has run nextTick: see that file
import { drainTimeoutMs } from "./drain.ts";
import { listenTarget } from "./listener.ts";
import { runScheduledOnce } from "./scheduled-once.ts";
import { serveOnSocket } from "./socket-mode.ts";
import { serveStandalone } from "./standalone.ts";
import { installWebGlobals } from "./web/globals.ts";

installWebGlobals();
process.on("unhandledRejection", (err) => console.error("fnrun: unhandled rejection:", err));

/** What this process is asked to do: `serve` or `scheduled`, from FNRUN_RUN or the first argument. */
function runMode(): "serve" | "scheduled" {
  const arg = process.argv[2];
  const env = process.env.FNRUN_RUN;
  const given = arg ?? env ?? "";
  const from = arg !== undefined ? "argument" : "FNRUN_RUN";
  if (given === "" || given === "serve") return "serve";
  if (given === "scheduled") return "scheduled";
  console.error(`fnrun: unknown ${from} \`${given}\`: expected \`scheduled\` (one scheduled() run, then exit) or nothing (serve requests)`);
  process.exit(2);
}

async function main(): Promise<void> {
  const entry = process.env.FNRUN_ENTRY || undefined;
  if (runMode() === "scheduled") return runScheduledOnce(entry);
  let target;
  let drainMs;
  try {
    target = listenTarget(process.env);
    drainMs = target.kind === "tcp" ? drainTimeoutMs(process.env.FNRUN_DRAIN_TIMEOUT) : 0;
  } catch (err) {
    console.error(`fnrun: ${(err as Error).message}`);
    process.exit(1);
  }
  if (target.kind === "socket") return serveOnSocket(target.dir, entry);
  return serveStandalone({ port: target.port, entry, drainTimeoutMs: drainMs });
}

await main();
