/**
 * @module gateway/secrets
 * Secrets of functions: `<state>/secrets/<name>.json` (mode 0600 in a 0700 dir, written
 * atomically), never in an image, a build context, a deployment record, a log line the
 * daemon writes, an error message or a metric. They reach the function only as env at
 * instance start (merged over config.toml's env by the daemon's instance starters), so
 * setting or removing one redeploys the function: the new revision's instances have it,
 * the old ones drain. The API lists keys, never values.
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Hono } from "hono";

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Env values travel in the container's spec; a bound keeps a mistake (a file piped in) from bloating it. */
const MAX_VALUE = 64 * 1024;

export class SecretError extends Error {
  override name = "SecretError";
  readonly kind = "user";
  constructor(readonly code: "FNRUN_SECRET_INVALID", message: string) {
    super(message);
  }
}

export class SecretStore {
  readonly dir: string;
  readonly #cache = new Map<string, Record<string, string>>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, "secrets");
  }

  /** Creates the dir and loads every function's secrets (instance starts read them synchronously). */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(this.dir)) {
      const name = f.endsWith(".json") ? f.slice(0, -5) : "";
      if (!NAME_RE.test(name)) continue;
      const parsed = JSON.parse(await readFile(join(this.dir, f), "utf8")) as Record<string, string>;
      this.#cache.set(name, parsed);
    }
  }

  /** The env a new instance of `name` gets on top of its config env. */
  envFor(name: string): Record<string, string> {
    return { ...this.#cache.get(name) };
  }

  keys(name: string): string[] {
    return Object.keys(this.#cache.get(name) ?? {}).sort();
  }

  async set(name: string, key: string, value: string): Promise<void> {
    checkName(name);
    checkKey(key);
    if (typeof value !== "string") throw new SecretError("FNRUN_SECRET_INVALID", `secret ${key}: the value must be a string`);
    if (Buffer.byteLength(value) > MAX_VALUE) throw new SecretError("FNRUN_SECRET_INVALID", `secret ${key}: the value is larger than ${MAX_VALUE} bytes`);
    if (value.includes("\0")) throw new SecretError("FNRUN_SECRET_INVALID", `secret ${key}: the value contains a NUL byte, which env cannot hold`);
    await this.#write(name, { ...this.#cache.get(name), [key]: value });
  }

  /** Whether `key` was there. */
  async remove(name: string, key: string): Promise<boolean> {
    checkName(name);
    const current = this.#cache.get(name);
    if (!current || !(key in current)) return false;
    const { [key]: _gone, ...rest } = current;
    await this.#write(name, rest);
    return true;
  }

  async #write(name: string, values: Record<string, string>): Promise<void> {
    const path = join(this.dir, `${name}.json`);
    if (Object.keys(values).length === 0) {
      await unlink(path).catch(() => {});
      this.#cache.delete(name);
      return;
    }
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(values), { mode: 0o600 });
    await rename(tmp, path);
    this.#cache.set(name, values);
  }
}

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new SecretError("FNRUN_SECRET_INVALID", `expected a function name of lowercase letters, digits and "-", got "${name.slice(0, 60)}"`);
}

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new SecretError("FNRUN_SECRET_INVALID", `secret key "${key.slice(0, 60)}": expected an environment variable name (letters, digits, _; not starting with a digit)`);
  if (key.startsWith("FNRUN_")) throw new SecretError("FNRUN_SECRET_INVALID", `secret key ${key}: FNRUN_* names are the platform's; choose another name`);
}

export interface SecretRoutesOptions {
  secrets: SecretStore;
  /** Redeploys `name` if it is deployed (its new instances get the new env); false when it is not. */
  redeploy: (name: string) => Promise<boolean>;
}

/** GET/PUT/DELETE /functions/:name/secrets[/:key] on the control API: keys only, never values. */
export function mountSecretRoutes(app: Hono<any>, opts: SecretRoutesOptions): void {
  app.get("/functions/:name/secrets", (c) => {
    const name = c.req.param("name");
    checkName(name);
    return c.json({ name, keys: opts.secrets.keys(name) });
  });
  app.put("/functions/:name/secrets/:key", async (c) => {
    const name = c.req.param("name");
    const key = c.req.param("key");
    let body: { value?: unknown };
    try {
      body = (await c.req.json()) as { value?: unknown };
    } catch {
      body = {};
    }
    if (typeof body.value !== "string") return c.json({ error: "bad request", code: "FNRUN_BAD_REQUEST", message: 'expected a JSON body like {"value": "..."}' }, 400);
    await opts.secrets.set(name, key, body.value);
    return c.json({ name, key, redeployed: await opts.redeploy(name) });
  });
  app.delete("/functions/:name/secrets/:key", async (c) => {
    const name = c.req.param("name");
    const key = c.req.param("key");
    const removed = await opts.secrets.remove(name, key);
    if (!removed) return c.json({ error: "secret not found", code: "FNRUN_SECRET_NOT_FOUND", message: `function \`${name}\` has no secret ${key}; \`fnrun secret ls ${name}\` lists them` }, 404);
    return c.json({ name, key, removed, redeployed: await opts.redeploy(name) });
  });
}
