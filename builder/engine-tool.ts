/**
 * @module builder/engine-tool
 * The `buildah` and `docker` build engines: the same generated Dockerfile and context the
 * embedded engine applies, handed to the tool, and the result imported into the store
 * (oci-import.ts). The tool needs the base image under the tag the Dockerfile's FROM names:
 * buildah pulls and docker loads a docker-archive of it (image-archive.ts). These engines run RUN and the rest of the
 * Dockerfile syntax the embedded one refuses.
 *
 * buildah keeps its own storage under `<state>/buildah` (vfs driver: no overlay or fuse
 * needed) and builds with `--isolation chroot`, so no daemon is involved.
 */
import { execFile, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { BuildError } from "./errors.ts";
import { writeImageArchive } from "./image-archive.ts";
import { importLayout } from "./oci-import.ts";
import type { ImageInfo, ImageStore } from "./oci-layout.ts";

const run = promisify(execFile);

export type EngineName = "embedded" | "buildah" | "docker";
export const ENGINES: readonly EngineName[] = ["embedded", "buildah", "docker"];

export interface ToolBuildOptions {
  engine: "buildah" | "docker";
  contextDir: string;
  /** The store tag of the result. */
  tag: string;
  /** The image the Dockerfile's FROM names, made available to the tool first. */
  base: ImageInfo;
}

/** Builds `<contextDir>/Dockerfile` with buildah or docker and imports the image as `tag`. */
export async function buildWithTool(store: ImageStore, options: ToolBuildOptions): Promise<ImageInfo> {
  const out = store.tempPath();
  // The tool's own name for the result; removed from its storage once imported.
  const toolTag = `fnrun-build/${options.tag.replace(/^fn\//, "").replace(/[^a-z0-9._:/-]/g, "-")}`;
  try {
    if (options.engine === "buildah") {
      const b = buildah(store.stateDir);
      await b.ensureBase(store, options.base);
      await tool("buildah", [...b.global, "bud", "--pull-never", "--layers=false", "--isolation", "chroot", "-q", "-f", path.join(options.contextDir, "Dockerfile"), "-t", toolTag, options.contextDir]);
      await tool("buildah", [...b.global, "push", "-q", "--format", "oci", toolTag, `oci:${out}:img`]);
      await run("buildah", [...b.global, "rmi", toolTag]).catch(() => {});
      return await importLayout(store, out, options.tag);
    }
    await dockerEnsureBase(store, options.base);
    await tool("docker", ["build", "-q", "-f", path.join(options.contextDir, "Dockerfile"), "-t", toolTag, options.contextDir]);
    await mkdir(out, { recursive: true });
    const archive = `${out}.tar`;
    try {
      await tool("docker", ["save", "-o", archive, toolTag]);
      await tool("tar", ["-x", "-f", archive, "-C", out]);
    } finally {
      await rm(archive, { force: true });
      await run("docker", ["rmi", toolTag]).catch(() => {});
    }
    return await importLayout(store, out, options.tag).catch((err) => {
      throw (err as NodeJS.ErrnoException).code === "ENOENT"
        ? new BuildError("FNRUN_BUILD_FAILED", "docker save wrote no OCI layout (Docker before 25 does not)", { fix: 'use Docker 25 or later, or set [build] engine = "buildah"', cause: err })
        : err;
    });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function buildah(stateDir: string) {
  const root = path.join(stateDir, "buildah");
  const global = ["--root", path.join(root, "storage"), "--runroot", path.join(root, "run"), "--storage-driver", "vfs"];
  return {
    global,
    /** Pulls the base from the store's layout into buildah's storage under its own tag, once. */
    async ensureBase(store: ImageStore, base: ImageInfo): Promise<void> {
      const have = await run("buildah", [...global, "inspect", "--type", "image", base.ref]).then(() => true, () => false);
      if (have) return;
      // Through a docker-archive: buildah names an image pulled from `oci:<dir>` after the
      // directory (refused when the path has capitals), but one from an archive after its RepoTags.
      const archive = `${store.tempPath()}.tar`;
      try {
        await writeImageArchive(store, base.ref, createWriteStream(archive), { format: "docker" });
        await tool("buildah", [...global, "pull", "-q", `docker-archive:${archive}`]);
      } finally {
        await rm(archive, { force: true });
      }
    },
  };
}

async function dockerEnsureBase(store: ImageStore, base: ImageInfo): Promise<void> {
  if (await run("docker", ["image", "inspect", base.ref]).then(() => true, () => false)) return;
  const child = spawn("docker", ["load", "-q"], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((r) => child.once("close", (code) => r(code ?? -1)));
  child.once("error", () => {});
  await writeImageArchive(store, base.ref, child.stdin, { format: "docker" }).catch(() => {});
  const code = await exited;
  if (code !== 0) throw new BuildError("FNRUN_BUILD_FAILED", `docker load of the base image \`${base.ref}\`: exit code ${code}: ${lastLines(stderr)}`, { fix: "check that a docker engine is running (docker info)" });
}

/** Runs a build tool; a failure is a BuildError with its last stderr lines. */
async function tool(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; code?: string | number };
    if (e.code === "ENOENT") throw new BuildError("FNRUN_BUILD_FAILED", `\`${cmd}\` is not installed`, { fix: `install ${cmd} (Debian: apt-get install ${cmd === "docker" ? "docker.io" : cmd}) or set [build] engine = "embedded"`, cause: err });
    throw new BuildError("FNRUN_BUILD_FAILED", `${cmd} ${args.filter((a) => !a.startsWith("/") || a.includes("Dockerfile")).slice(-6).join(" ")}: exit code ${e.code}: ${lastLines(e.stderr ?? "")}`, { cause: err });
  }
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-5).join("\n");
}
