/**
 * Shutdown is bounded: a daemon whose state dir vanished under it (runc can no longer name its
 * containers) still stops on SIGTERM and kills its containers by their cgroups, and a second
 * signal during a drain kills everything at once. Checked from the host: runc's list before,
 * then the containers' cgroups and processes after.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { request } from "undici";
import { cgroupDirsOf } from "../../runtime/cgroup.ts";
import { control, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";

const SLOW = join(ROOT, "test/fixtures/gateway/slow");

/** The init pid of each container runc lists under the daemon's state dir. */
async function containerPids(d: DaemonProcess, ids: string[]): Promise<Map<string, number>> {
  const pids = new Map<string, number>();
  for (const id of ids) {
    const state = JSON.parse(await readFile(join(d.stateDir, "runc", id, "state.json"), "utf8")) as { init_process_pid: number };
    pids.set(id, state.init_process_pid);
  }
  return pids;
}

/** A process lives (a zombie counts as dead). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && !/^\S+ \(.*\) [ZX] /.test(stat);
}

/** What of these containers is left on the host: cgroup dirs and living processes. */
async function remains(pids: Map<string, number>): Promise<string[]> {
  const left: string[] = [];
  for (const [id, pid] of pids) {
    for (const dir of cgroupDirsOf(id)) if (existsSync(dir)) left.push(dir);
    if (await alive(pid)) left.push(`pid ${pid} of ${id}`);
  }
  return left;
}

describe("bounded shutdown", { timeout: 180_000 }, () => {
  const daemons: DaemonProcess[] = [];
  after(async () => {
    for (const d of daemons) await d.stop("SIGKILL");
  });

  test("a daemon whose state dir was removed under it stops on SIGTERM and kills its containers", async () => {
    const d = await startDaemonProcess(`[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 1\n[functions.hello]\ndir = "${ROOT}/functions/hello"\n`);
    daemons.push(d);
    // The deploy's warm instance and the stem cell, refilled in the background.
    const ids = await until("two containers", async () => {
      const c = (await leftovers(d.stateDir)).containers;
      return c.length >= 2 ? c : null;
    });
    const pids = await containerPids(d, ids);
    await rm(d.stateDir, { recursive: true, force: true });
    // Before: runc found no state, killed nothing, and the containers' pipes kept the daemon alive forever.
    assert.equal(await d.stop("SIGTERM"), 0, d.log());
    assert.deepEqual(await remains(pids), [], `nothing of ${ids.join(", ")} is left\n${d.log()}`);
  });

  test("a second signal during the drain kills every container at once", async () => {
    const d = await startDaemonProcess(`[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 0\n[functions.slow]\ndir = "${SLOW}"\n`);
    daemons.push(d);
    const ids = (await leftovers(d.stateDir)).containers;
    assert.equal(ids.length, 1);
    const pids = await containerPids(d, ids);
    // A request that would hold the drain for a minute.
    const inFlight = request(`${d.url}/slow?ms=60000`).then((r) => r.body.text().then(() => r.statusCode), (err: Error) => err.message);
    await until("the request to be in flight", async () => (await control<any[]>(d, "GET", "/v1/functions")).some((f: any) => f.instances?.busy >= 1));
    d.child.kill("SIGINT");
    await until("the drain to begin", async () => /Ctrl-C again to force/.test(d.log()));
    d.child.kill("SIGINT");
    assert.equal(await d.stop("SIGINT"), 130, d.log());
    assert.match(d.log(), /SIGINT again: killing every container now/);
    assert.match(d.log(), /forced stop: killed 1 containers by their cgroups/);
    assert.notEqual(await inFlight, 200, "the request in flight was cut, not answered");
    assert.deepEqual(await remains(pids), []);
    const left = await leftovers(d.stateDir, ids);
    assert.deepEqual(left.cgroups, []);
    assert.deepEqual(left.mounts, [], "the rootfs mount is released");
  });
});

