/**
 * @module gateway/reload
 * `fnrun reload` (POST /v1/reload) and SIGHUP: re-reads config.toml and redeploys the
 * functions whose settings changed. A config that does not validate changes nothing (the
 * ConfigError lists every problem at once, and the daemon keeps serving the old one); a
 * function whose redeploy fails keeps its old revision serving and its old settings. Daemon
 * settings ([gateway], [daemon], [control], [pool], and [defaults] for stem cells) are fixed
 * at start: a change there is reported as needing a restart, not applied (functions get new
 * defaults through their own settings, which are compared one by one).
 */
import { loadConfig, type Diagnostic, type FnrunConfig, type FunctionConfig } from "./config.ts";
import type { Deployer, DeployResult } from "./deployer.ts";
import { httpErrorFor } from "./errors.ts";

export interface ReloadOptions {
  configPath: string;
  /** The daemon's live config: its `functions` map is updated in place (the deployer reads it). */
  current: FnrunConfig;
  deployer: Deployer;
}

export interface ReloadResult {
  /** Functions (re)deployed because they are new or their settings changed. */
  deployed: DeployResult[];
  /** Functions that were in config.toml and are no longer: removed. */
  removed: string[];
  unchanged: string[];
  /** Redeploys that failed: the old revision keeps serving. */
  failed: Array<{ name: string; error: ReturnType<typeof httpErrorFor>["body"] }>;
  /** Top-level sections whose changes apply only after a restart of the daemon. */
  restartNeeded: string[];
  warnings: Diagnostic[];
}

/** One reload at a time; a second call while one runs waits for it. */
let running: Promise<unknown> = Promise.resolve();

export function reloadConfig(opts: ReloadOptions): Promise<ReloadResult> {
  const next = running.catch(() => {}).then(() => reload(opts));
  running = next;
  return next;
}

async function reload({ configPath, current, deployer }: ReloadOptions): Promise<ReloadResult> {
  // Throws ConfigError (every problem at once) before anything is touched.
  const { config: fresh, warnings } = await loadConfig(configPath);
  // [defaults] reach functions through their own settings (compared below); stem cells keep the old ones until a restart.
  const restartNeeded = (["gateway", "daemon", "control", "pool", "defaults"] as const).filter((k) => JSON.stringify(fresh[k]) !== JSON.stringify(current[k]));

  const result: ReloadResult = { deployed: [], removed: [], unchanged: [], failed: [], restartNeeded, warnings };
  const kept = new Map<string, FunctionConfig>();
  const changed: FunctionConfig[] = [];
  for (const fc of fresh.functions.values()) {
    const old = current.functions.get(fc.name);
    if (old && sameSettings(old, fc)) {
      result.unchanged.push(fc.name);
      kept.set(fc.name, fc);
    } else changed.push(fc);
  }
  // New revisions first, side by side (each deploy warms its instances before the swap, so
  // requests never see a gap), then what config.toml no longer names.
  const outcomes = await Promise.allSettled(changed.map((fc) => deployer.deploy(fc)));
  outcomes.forEach((o, i) => {
    const fc = changed[i];
    if (o.status === "fulfilled") {
      result.deployed.push(o.value);
      kept.set(fc.name, fc);
    } else {
      result.failed.push({ name: fc.name, error: { ...httpErrorFor(o.reason).body, message: (o.reason as Error).message } });
      const old = current.functions.get(fc.name);
      if (old) kept.set(fc.name, old); // still serving with its old settings
    }
  });
  for (const name of current.functions.keys()) {
    if (fresh.functions.has(name)) continue;
    await deployer.remove(name);
    result.removed.push(name);
  }
  // The deployer reads these when the CLI deploys a folder later on.
  current.functions.clear();
  for (const [name, fc] of kept) current.functions.set(name, fc);
  return result;
}

/** Whether a function would run the same: every setting of config.toml compared. */
function sameSettings(a: FunctionConfig, b: FunctionConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
