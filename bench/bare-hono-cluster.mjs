// The bare baseline of the workers benchmark: bench/bare-hono.mjs's Hono hello app in N node:cluster
// processes sharing one port (round robin, as the gateway's workers share theirs), so that each
// gateway worker count is compared with bare Hono on the same number of processes.
//
//   node bench/bare-hono-cluster.mjs N   → prints its port on stdout once every process listens
import cluster from "node:cluster";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

if (cluster.isPrimary) {
  const n = Number(process.argv[2]);
  if (!(n >= 1 && Number.isInteger(n))) throw new Error("usage: bare-hono-cluster.mjs N");
  let listening = 0;
  for (let i = 0; i < n; i++) {
    cluster.fork().on("message", (port) => {
      if (++listening === n) console.log(String(port));
    });
  }
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
    process.exit(0);
  });
} else {
  const app = new Hono();
  app.get("/hello", (c) => c.text("hello, world\n"));
  serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => process.send(info.port));
}
