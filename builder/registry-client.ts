/**
 * @module builder/registry-client
 * One repository of one registry over the OCI distribution API (distribution-spec v1.1
 * spec.md) with undici: HEAD/GET/PUT of manifests, HEAD/GET of blobs, and blob uploads, both
 * monolithic (POST, then PUT ?digest= with the whole blob) and chunked (POST, PATCH with
 * Content-Range per chunk, PUT ?digest=). Everything read is checked against its digest and
 * size before anyone sees it; a blob goes to a temp file first and is only handed over whole.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Agent, interceptors, request, type Dispatcher } from "undici";
import { RegistryError } from "./errors.ts";
import { authorize, loginNeeded, parseChallenge, type RegistryCredentials } from "./registry-auth.ts";
import { isLoopbackHost } from "./registry-ref.ts";

/** The manifest kinds fnrun reads: OCI and Docker v2 schema 2 images, and indexes/lists of them. */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

/** A manifest larger than this is refused (distribution itself caps them at 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;
/** Blobs above this size are uploaded in chunks of this size. */
export const DEFAULT_CHUNK_BYTES = 16 << 20;

export interface RegistryClientOptions {
  registry: string;
  repository: string;
  /** Plain HTTP; allowed for loopback registries only. */
  insecure?: boolean;
  credentials?: RegistryCredentials;
  /** `pull` or `pull,push`: the token scope asked for. */
  actions: string;
}

type Body = () => string | Buffer | Readable;

export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  readonly #base: string;
  readonly #opts: RegistryClientOptions;
  readonly #dispatcher: Dispatcher;
  #authorization: string | undefined;

  constructor(opts: RegistryClientOptions) {
    if (opts.insecure && !isLoopbackHost(opts.registry)) {
      throw new RegistryError("FNRUN_REGISTRY_INSECURE", `--insecure: \`${opts.registry}\` is not a loopback address; plain HTTP is only allowed to 127.0.0.1, ::1 or localhost`);
    }
    this.registry = opts.registry;
    this.repository = opts.repository;
    this.#opts = opts;
    this.#base = `${opts.insecure ? "http" : "https"}://${opts.registry}`;
    // Registries may redirect blob GETs to storage; undici drops Authorization across origins.
    this.#dispatcher = new Agent({ connections: 8 }).compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  /** Whether the repository has the blob (HEAD, spec "Checking if content exists"). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.#send("HEAD", `/v2/${this.repository}/blobs/${digest}`, { ok: [200, 404] });
    return res.statusCode === 200;
  }

  /**
   * Uploads a blob from `open` (called again for each chunk with its byte range, or once for
   * the whole blob). Chunked when `size > chunkBytes`.
   */
  async uploadBlob(digest: string, size: number, open: (start: number, end: number) => Readable, chunkBytes = DEFAULT_CHUNK_BYTES): Promise<void> {
    const started = await this.#send("POST", `/v2/${this.repository}/blobs/uploads/`, { ok: [202], headers: { "content-length": "0" } });
    let location = this.#location(started, "POST blobs/uploads/");
    if (size > chunkBytes) {
      for (let start = 0; start < size; start += chunkBytes) {
        const end = Math.min(size, start + chunkBytes) - 1;
        const res = await this.#send("PATCH", location, {
          ok: [202],
          headers: { "content-type": "application/octet-stream", "content-length": String(end - start + 1), "content-range": `${start}-${end}` },
          body: () => open(start, end),
        });
        location = this.#location(res, `PATCH chunk ${start}-${end} of ${digest}`);
      }
      await this.#send("PUT", withDigest(location, digest), { ok: [201], headers: { "content-length": "0" } });
    } else {
      await this.#send("PUT", withDigest(location, digest), {
        ok: [201],
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        body: () => open(0, size - 1),
      });
    }
  }

  /** Puts a manifest under a tag or digest; its bytes go as they are, so its digest is kept. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.#send("PUT", `/v2/${this.repository}/manifests/${reference}`, { ok: [201], headers: { "content-type": mediaType, "content-length": String(bytes.length) }, body: () => bytes });
    return String(res.headers["docker-content-digest"] ?? sha256(bytes));
  }

  /**
   * Gets a manifest and checks it: against the digest when `reference` is one (or `expected`
   * is given), else against the Docker-Content-Digest the registry sent, when it sent one.
   */
  async getManifest(reference: string, expected?: { digest: string; size?: number }): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const res = await this.#send("GET", `/v2/${this.repository}/manifests/${reference}`, { ok: [200], headers: { accept: MANIFEST_ACCEPT }, keepBody: true });
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      total += c.length;
      if (total > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new RegistryError("FNRUN_REGISTRY_FAILED", `get manifest \`${this.repository}:${reference}\` from \`${this.registry}\`: larger than ${MAX_MANIFEST_BYTES} bytes; refused`);
      }
      chunks.push(c);
    }
    const bytes = Buffer.concat(chunks);
    const digest = sha256(bytes);
    const want = expected?.digest ?? (reference.startsWith("sha256:") ? reference : undefined) ?? (res.headers["docker-content-digest"] as string | undefined);
    if (want && want !== digest) throw mismatch("manifest", want, `its content has digest ${digest}`);
    if (expected?.size !== undefined && expected.size !== bytes.length) throw mismatch("manifest", want ?? digest, `${bytes.length} bytes, expected ${expected.size}`);
    const mediaType = String(res.headers["content-type"] ?? "").split(";")[0].trim() || (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType || "";
    return { bytes, mediaType, digest };
  }

  /**
   * Downloads a blob into `dest` (a temp path), checking size as it streams and the digest at
   * the end; on any mismatch or failure `dest` is removed and nothing is left.
   */
  async downloadBlob(digest: string, size: number, dest: string): Promise<void> {
    const hash = createHash("sha256");
    let bytes = 0;
    try {
      const res = await this.#send("GET", `/v2/${this.repository}/blobs/${digest}`, { ok: [200], keepBody: true });
      const out = createWriteStream(dest, { flags: "wx", mode: 0o644 });
      try {
        for await (const c of res.body as AsyncIterable<Buffer>) {
          bytes += c.length;
          if (bytes > size) {
            res.body.destroy();
            throw mismatch("blob", digest, `more than the ${size} bytes its descriptor says`);
          }
          hash.update(c);
          if (!out.write(c)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
      } finally {
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
      if (bytes !== size) throw mismatch("blob", digest, `${bytes} bytes, expected ${size}`);
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== digest) throw mismatch("blob", digest, `its content has digest ${got}`);
    } catch (err) {
      await rm(dest, { force: true });
      throw err;
    }
  }

  /** Absolute upload URL from a Location header (relative or absolute, spec allows both). */
  #location(res: Dispatcher.ResponseData, what: string): string {
    const loc = res.headers.location;
    if (typeof loc !== "string" || !loc) throw new RegistryError("FNRUN_REGISTRY_FAILED", `${what} at \`${this.registry}\`: no Location in the answer`);
    return new URL(loc, this.#base).toString();
  }

  /** One request, authenticating once on a 401 and retrying; non-`ok` statuses become errors. */
  async #send(method: string, pathOrUrl: string, opts: { ok: number[]; headers?: Record<string, string>; body?: Body; keepBody?: boolean }): Promise<Dispatcher.ResponseData> {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${this.#base}${pathOrUrl}`;
    const what = `${method} ${new URL(url).pathname}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...opts.headers };
      if (this.#authorization) headers.authorization = this.#authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body: opts.body?.(), dispatcher: this.#dispatcher });
      } catch (err) {
        const e = err as Error & { code?: string };
        const hint = e.code === "UND_ERR_SOCKET" || /wrong version number|EPROTO/.test(e.message) ? "; a plain-HTTP registry on loopback needs --insecure" : "";
        throw new RegistryError("FNRUN_REGISTRY_FAILED", `${what} at \`${this.registry}\`: ${e.message}${hint}`, { cause: err });
      }
      if (res.statusCode === 401 && attempt === 0) {
        await res.body.dump();
        const challenge = parseChallenge(String(res.headers["www-authenticate"] ?? ""));
        if (!challenge) throw loginNeeded(this.registry, "no challenge");
        this.#authorization = await authorize(challenge, { registry: this.registry, scope: `repository:${this.repository}:${this.#opts.actions}`, credentials: this.#opts.credentials, dispatcher: this.#dispatcher });
        continue;
      }
      if (opts.ok.includes(res.statusCode)) {
        if (!opts.keepBody) await res.body.dump();
        return res;
      }
      const text = method === "HEAD" ? "" : (await res.body.text().catch(() => "")).slice(0, 300);
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new RegistryError("FNRUN_REGISTRY_AUTH", `${what} at \`${this.registry}\`: ${res.statusCode}${this.#opts.credentials ? "; the login is refused or lacks the rights" : "; pass --username and --password-stdin"} ${text}`.trim(), { status: res.statusCode });
      }
      if (res.statusCode === 404) throw new RegistryError("FNRUN_REGISTRY_NOT_FOUND", `${what} at \`${this.registry}\`: not found ${text}`.trim(), { status: 404 });
      throw new RegistryError("FNRUN_REGISTRY_FAILED", `${what} at \`${this.registry}\`: ${res.statusCode} ${text}`.trim(), { status: res.statusCode });
    }
  }
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function mismatch(what: string, digest: string, why: string): RegistryError {
  return new RegistryError("FNRUN_REGISTRY_DIGEST_MISMATCH", `pull ${what} \`${digest}\`: ${why}; refused, nothing kept`);
}
