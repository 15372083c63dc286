// The floor of the gateway's design, for the warm benchmark: node:http in, undici Pool.dispatch
// out over the instance's unix socket (the same instance the gateway fronts), the answer written
// back in one go. Nothing else: no routing, no limits, no lease, no timeout, no metrics, no log,
// no streaming. What it reaches is what node:http + undici allow on this machine; the gateway's
// distance from it is the cost of everything fnrun adds.
//
//   node bench/proxy-floor.mjs <instance socket>   → prints its port on stdout once it listens
import { createServer } from "node:http";
import { Pool } from "undici";

const socketPath = process.argv[2];
if (!socketPath) throw new Error("usage: proxy-floor.mjs <unix socket of the instance>");
const pool = new Pool("http://fnrun", { socketPath, connections: 32 });
const HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);

class Answer {
  constructor(res) {
    this.res = res;
    this.status = 0;
    this.head = null;
    this.body = [];
  }
  onConnect() {}
  onHeaders(status, raw) {
    this.status = status;
    const head = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString("latin1");
      if (!HOP.has(name.toLowerCase())) head.push(name, raw[i + 1].toString("latin1"));
    }
    this.head = head;
    return true;
  }
  onData(chunk) {
    this.body.push(chunk);
    return true;
  }
  onComplete() {
    this.res.writeHead(this.status, this.head);
    this.res.end(this.body.length === 1 ? this.body[0] : Buffer.concat(this.body));
  }
  onError() {
    this.res.destroy();
  }
}

const server = createServer((req, res) => {
  pool.dispatch({ method: req.method, path: req.url, headers: ["host", req.headers.host ?? "fnrun"] }, new Answer(res));
});
server.listen(0, "127.0.0.1", () => console.log(String(server.address().port)));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
