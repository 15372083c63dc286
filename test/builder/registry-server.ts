/**
 * @module test/builder/registry-server
 * A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 on
 * a free port, with its storage in a temp dir, optionally behind htpasswd (bcrypt, made with
 * the system's crypt(3) through perl: libxcrypt knows $2b$, and node has no bcrypt of its own).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface RegistryServer {
  /** `127.0.0.1:<port>` */
  host: string;
  /** The registry's storage root (blobs under docker/registry/v2/blobs). */
  storage: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A bcrypt htpasswd line for `user`. */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const salt = randomBytes(16).toString("base64").replace(/[^A-Za-z0-9]/g, "").padEnd(22, "a").slice(0, 22).replace(/.$/, "e");
  const { stdout } = await run("perl", ["-e", "print crypt($ARGV[0], $ARGV[1])", password, `$2b$05$${salt}`]);
  if (!stdout.startsWith("$2b$")) throw new Error(`crypt(3) has no bcrypt here: ${stdout}`);
  return `${user}:${stdout}\n`;
}

export async function startRegistry(opts: { htpasswd?: { user: string; password: string }; extraConfig?: string } = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fnrun-reg-"));
  const storage = path.join(dir, "storage");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let auth = "";
  if (opts.htpasswd) {
    await writeFile(path.join(dir, "htpasswd"), await htpasswdLine(opts.htpasswd.user, opts.htpasswd.password));
    auth = `auth:\n  htpasswd:\n    realm: fnrun-test\n    path: ${path.join(dir, "htpasswd")}\n`;
  }
  const config = `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${auth}${opts.extraConfig ?? ""}`;
  await writeFile(path.join(dir, "config.yml"), config);
  const child: ChildProcess = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const end = Date.now() + 15_000;
  for (;;) {
    const up = await fetch(`http://${host}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (up) break;
    if (child.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`docker-registry did not start on ${host}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, storage, stop };
}
