/**
 * @module builder/engine
 * The embedded build engine: applies a parsed Dockerfile to the image store the way
 * `docker build` would, for the instructions that need neither a shell nor the network.
 * FROM resolves from the store; each COPY adds one layer; ENV, LABEL, WORKDIR, USER, CMD,
 * ENTRYPOINT, EXPOSE and STOPSIGNAL change the config and add an empty-layer history entry, as
 * docker records them.
 */
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { BuildError } from "./errors.ts";
import { parseDockerfile, type Instruction } from "./dockerfile.ts";
import type { LayerEntry } from "./layer.ts";
import { FIXED_CREATED, setEnv, type HistoryEntry, type RuntimeConfig } from "./oci-image.ts";
import type { ImageInfo, ImageStore, LayerInput } from "./oci-layout.ts";

export interface ApplyDockerfileOptions {
  /** The Dockerfile text. */
  dockerfile: string;
  /** The build context: COPY sources are relative to it and may not leave it. */
  contextDir: string;
  /** The tag the result gets. */
  tag: string;
}

/** Builds `tag` from a Dockerfile and its context; nothing is tagged when an instruction fails. */
export async function applyDockerfile(store: ImageStore, options: ApplyDockerfileOptions): Promise<ImageInfo> {
  const instructions = parseDockerfile(options.dockerfile);
  const from = instructions[0] as Extract<Instruction, { op: "FROM" }>;
  const base = await store.resolve(from.image);
  const config: RuntimeConfig = structuredClone(base.config.config ?? {});
  const layers: LayerInput[] = base.layers.map((existing) => ({ existing }));
  const history: HistoryEntry[] = [...(base.config.history ?? [])];
  let cmdFromThisFile = false;

  for (const ins of instructions.slice(1)) {
    const record = (createdBy: string, emptyLayer: boolean) =>
      history.push({ created: FIXED_CREATED, created_by: createdBy, ...(emptyLayer ? { empty_layer: true } : {}) });
    switch (ins.op) {
      case "COPY": {
        const dest = path.posix.resolve(config.WorkingDir || "/", ins.dest);
        const entries = await copyEntries(options.contextDir, ins, ins.dest.endsWith("/") ? dest + "/" : dest);
        layers.push({ entries, createdBy: ins.text });
        record(ins.text, false);
        break;
      }
      case "ENV":
        for (const [k, v] of ins.pairs) config.Env = setEnv(config.Env ?? [], k, v);
        record(`ENV ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`, true);
        break;
      case "LABEL":
        config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(ins.pairs) };
        record(`LABEL ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`, true);
        break;
      case "WORKDIR":
        // docker creates a missing WORKDIR; fnrun's base has /app, and the engine has no
        // directory-only layer, so a WORKDIR elsewhere is recorded but not created.
        config.WorkingDir = path.posix.resolve(config.WorkingDir || "/", ins.path);
        record(`WORKDIR ${config.WorkingDir}`, true);
        break;
      case "USER":
        config.User = ins.user;
        record(`USER ${ins.user}`, true);
        break;
      case "CMD":
        config.Cmd = ins.args;
        cmdFromThisFile = true;
        record(`CMD ${JSON.stringify(ins.args)}`, true);
        break;
      case "ENTRYPOINT":
        config.Entrypoint = ins.args;
        // docker: ENTRYPOINT resets a CMD inherited from the base image.
        if (!cmdFromThisFile) config.Cmd = null;
        record(`ENTRYPOINT ${JSON.stringify(ins.args)}`, true);
        break;
      case "EXPOSE":
        // Added to the base's ports, as docker does (EXPOSE never removes one).
        config.ExposedPorts = { ...(config.ExposedPorts ?? {}), ...Object.fromEntries(ins.ports.map((p) => [p, {}])) };
        record(`EXPOSE ${ins.ports.join(" ")}`, true);
        break;
      case "STOPSIGNAL":
        config.StopSignal = ins.signal;
        record(`STOPSIGNAL ${ins.signal}`, true);
        break;
      case "FROM":
        break; // parseDockerfile allows only one, first
    }
  }
  return store.putImage(options.tag, layers, config, { history });
}

/** The layer entries a COPY adds: one file, or a directory tree, from inside the context. */
async function copyEntries(contextDir: string, ins: Extract<Instruction, { op: "COPY" }>, dest: string): Promise<LayerEntry[]> {
  const root = path.resolve(contextDir);
  const src = path.resolve(root, ins.src);
  if (src !== root && !src.startsWith(root + path.sep)) {
    throw new BuildError("FNRUN_DOCKERFILE_INVALID", `Dockerfile line ${ins.line}: COPY source \`${ins.src}\` is outside the build context`, { line: ins.line });
  }
  const st = await lstat(src).catch(() => null);
  if (!st) {
    throw new BuildError("FNRUN_BUILD_FAILED", `Dockerfile line ${ins.line}: COPY source \`${ins.src}\` not found in \`${root}\``, { line: ins.line });
  }
  if (!st.isDirectory()) {
    const target = dest.endsWith("/") ? dest + path.basename(src) : dest;
    return [await entryOf(src, target)];
  }
  // Like docker, COPY of a directory copies its contents, not the directory itself.
  const out: LayerEntry[] = [{ type: "dir", path: dest, mode: st.mode & 0o7777 }];
  const walk = async (dir: string, into: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const t = path.posix.join(into, name);
      const s = await lstat(p);
      if (s.isDirectory()) {
        out.push({ type: "dir", path: t, mode: s.mode & 0o7777 });
        await walk(p, t);
      } else {
        out.push(await entryOf(p, t));
      }
    }
  };
  await walk(src, dest);
  return out;
}

async function entryOf(src: string, target: string): Promise<LayerEntry> {
  const s = await lstat(src);
  if (s.isSymbolicLink()) return { type: "symlink", path: target, target: await readlink(src) };
  if (!s.isFile()) throw new BuildError("FNRUN_BUILD_FAILED", `COPY \`${src}\`: not a regular file, directory or symlink`);
  // Small files are read now, so the layer is made from what the context held at this moment.
  return s.size < 1 << 20
    ? { type: "file", path: target, mode: s.mode & 0o7777, content: await readFile(src) }
    : { type: "file", path: target, mode: s.mode & 0o7777, source: src };
}
