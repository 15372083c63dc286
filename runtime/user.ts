/**
 * @module runtime/user
 * Resolves an image config's `User` ("1000:1000", "1000", "fn", "fn:fn") to numeric ids,
 * reading names from the rootfs's /etc/passwd and /etc/group as `docker run` does.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export async function resolveUser(user: string, rootfs: string): Promise<{ uid: number; gid: number }> {
  const [u = "", g] = (user || "0").split(":");
  const passwd = /^\d+$/.test(u) && (g === undefined || /^\d+$/.test(g)) ? [] : await table(rootfs, "passwd");
  const entry = passwd.find((f) => f[0] === u || f[2] === u);
  const uid = /^\d+$/.test(u) ? Number(u) : entry ? Number(entry[2]) : NaN;
  if (Number.isNaN(uid)) throw new Error(`image User \`${user}\`: no user \`${u}\` in the image's /etc/passwd`);
  if (g === undefined) return { uid, gid: entry ? Number(entry[3]) : uid };
  if (/^\d+$/.test(g)) return { uid, gid: Number(g) };
  const group = (await table(rootfs, "group")).find((f) => f[0] === g);
  if (!group) throw new Error(`image User \`${user}\`: no group \`${g}\` in the image's /etc/group`);
  return { uid, gid: Number(group[2]) };
}

async function table(rootfs: string, name: string): Promise<string[][]> {
  const text = await readFile(join(rootfs, "etc", name), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).map((l) => l.split(":"));
}
