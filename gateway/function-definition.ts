/**
 * @module gateway/function-definition
 * One deployable revision of a function: its settings, its image and where that image's
 * rootfs is unpacked. The pool keys on it; the instance starter reads it.
 */
import type { Instance } from "../runtime/instance.ts";
import type { PoolDefinition, PoolManager } from "../runtime/pool-manager.ts";
import type { FunctionConfig } from "./config.ts";

export interface FunctionDefinition extends PoolDefinition {
  config: FunctionConfig;
  /** Manifest digest of the image (sha256:…). */
  image: string;
  rootfs: string;
  imageConfig: { Cmd: string[]; Env: string[]; User: string; WorkingDir: string };
  /**
   * The bundle inside the unpacked rootfs: what a stem cell loads when it becomes this function
   * (with the `node_modules` beside it, when the image has external packages).
   */
  bundlePath: string;
  logFile: string;
}

/** The pools of the daemon: function revisions served by runc instances, stem cells included. */
export type FunctionPools = PoolManager<FunctionDefinition, Instance>;
