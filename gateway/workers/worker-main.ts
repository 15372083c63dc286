/**
 * @module gateway/workers/worker-main
 * A gateway worker process (node:cluster): the public listener and the proxy, exactly as the
 * single-process gateway runs them (public-server.ts, proxy.ts), with leases from the primary
 * (worker-invoker.ts). It keeps no state of its own that matters: invocation records go to the
 * primary in batches, timeouts at once. Signals are the primary's to handle: a Ctrl-C reaches
 * the whole process group, and the primary then closes its workers in order.
 */
import type { Server } from "node:http";
import { createPublicServer, type InvocationRecord } from "../public-server.ts";
import { RouteTable } from "../routes.ts";
import type { FromWorker, FunctionInfo, ToWorker } from "./protocol.ts";
import { appendRecord } from "./record-rows.ts";
import { WorkerInvoker } from "./worker-invoker.ts";

/** Invocation records are sent at most this often (the console shows them within 2 s). */
const RECORD_FLUSH_MS = 50;
const RECORD_BATCH_MAX = 512;

export async function runGatewayWorker(): Promise<void> {
  if (!process.send) throw new Error("the gateway worker runs under node:cluster only (no IPC channel)");
  const send = (m: FromWorker) => void process.send!(m);
  const invoker = new WorkerInvoker(send);
  let routes = new RouteTable(new Map());
  let server: Server | undefined;

  let rows: unknown[] = [];
  let count = 0;
  let flushTimer: NodeJS.Timeout | null = null;
  const flush = () => {
    flushTimer = null;
    if (count === 0) return;
    send({ t: "invocations", rows });
    rows = [];
    count = 0;
  };
  const onInvocation = (r: InvocationRecord) => {
    appendRecord(rows, r);
    if (++count >= RECORD_BATCH_MAX) flush();
    else flushTimer ??= setTimeout(flush, RECORD_FLUSH_MS);
  };

  const setFunctions = (functions: Record<string, FunctionInfo>) => {
    routes = new RouteTable(new Map(Object.entries(functions).map(([name, f]) => [name, f.routes])));
    invoker.setFunctions(functions);
  };

  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});
  // The primary died or let go of us: nothing can be served without it.
  process.on("disconnect", () => process.exit(0));

  process.on("message", onMessage);
  send({ t: "ready" });

  function onMessage(m: ToWorker): void {
    switch (m.t) {
      case "setup": {
        setFunctions(m.functions);
        server = createPublicServer({ routes: () => routes, invoker, maxBodyBytes: m.setup.maxBodyBytes, limits: m.setup.limits, onInvocation });
        server.once("error", (err) => {
          console.error(`fnrun gateway worker ${process.pid}: cannot listen on ${m.setup.host}:${m.setup.port}: ${err.message}`);
          process.exit(1);
        });
        server.listen(m.setup.port, m.setup.host, () => {
          const addr = server!.address() as { address: string; port: number };
          send({ t: "listening", host: addr.address, port: addr.port });
        });
        break;
      }
      case "functions":
        setFunctions(m.functions);
        break;
      case "grant":
        invoker.granted(m.rid, m.grant);
        break;
      case "deny":
        invoker.denied(m.rid, m.code, m.message);
        break;
      case "contended": {
        const released = invoker.contended(m.fn, m.on);
        if (m.on) send({ t: "recalled", seq: m.seq, released });
        break;
      }
      case "close":
        void close();
        break;
    }
  }

  async function close(): Promise<void> {
    if (server) {
      const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
      server.closeIdleConnections();
      setTimeout(() => server!.closeAllConnections(), 5000).unref();
      await closed;
    }
    await invoker.close();
    flush();
    send({ t: "closed" });
    process.disconnect();
  }
}
