// The bare baseline of the warm benchmark: a Hono hello app on @hono/node-server, in its own
// node process, on 127.0.0.1 and a free port. Prints the port on stdout once it listens.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.get("/hello", (c) => c.text("hello, world\n"));
serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => console.log(String(info.port)));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
