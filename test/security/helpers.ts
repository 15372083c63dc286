/**
 * @module test/security/helpers
 * Host-side views for the adversarial suite: the daemon's containers and their pids (runc),
 * fields of /proc/<pid>/status, process counts, and plain HTTP requests to the gateway.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { Runc } from "../../runtime/runc.ts";
import type { DaemonProcess } from "../helpers/daemon-process.ts";

export const FIX = join(import.meta.dirname, "../fixtures/security");

export interface Answer {
  status: number;
  text: string;
  json: any;
}

/** A request to the gateway; the body parsed as JSON when it is JSON. */
export async function get(d: DaemonProcess, path: string, timeoutMs = 60_000): Promise<Answer> {
  const res = await request(`${d.url}${path}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const text = await res.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.statusCode, text, json };
}

/** The daemon's running containers whose id starts with `prefix-`, with their init pids. */
export async function containersOf(d: DaemonProcess, prefix: string): Promise<Array<{ id: string; pid: number; status: string }>> {
  const runc = new Runc({ root: join(d.stateDir, "runc") });
  const all = await runc.list().catch(() => []);
  return all.filter((c) => c.id.startsWith(`${prefix}-`)).map((c) => ({ id: c.id, pid: c.pid, status: c.status }));
}

/** The init pid of container `id` as runc knows it. */
export async function pidOf(d: DaemonProcess, id: string): Promise<number> {
  const runc = new Runc({ root: join(d.stateDir, "runc") });
  return (await runc.state(id)).pid;
}

/** A field of /proc/<pid>/status ("Seccomp", "NoNewPrivs", "CapEff", "VmRSS", "Uid"...). */
export async function statusField(pid: number, field: string): Promise<string | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(status)?.[1].trim();
}

/** Resident memory of a process in KiB. */
export async function rssKiB(pid: number): Promise<number> {
  return Number.parseInt((await statusField(pid, "VmRSS")) ?? "0", 10);
}

/** Number of processes on the host. */
export async function hostProcessCount(): Promise<number> {
  return (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).length;
}

/** The kernel's count of OOM kills since boot (/proc/vmstat oom_kill). */
export async function oomKillsSinceBoot(): Promise<number> {
  const m = /^oom_kill (\d+)$/m.exec(await readFile("/proc/vmstat", "utf8"));
  return m ? Number(m[1]) : 0;
}
