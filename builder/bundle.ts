/**
 * @module builder/bundle
 * Turns a function folder into one ESM file with esbuild: the entry and its npm dependencies,
 * with Node's builtins left as imports. Errors name the file, line and column.
 */
import { createHash } from "node:crypto";
import { access } from "node:fs/promises";
import path from "node:path";
import { build, type BuildFailure, type Message } from "esbuild";
import { BuildError } from "./errors.ts";

/** Entry file names, in order of preference. */
export const ENTRY_NAMES = ["index.ts", "index.js", "index.mjs"] as const;

export interface Bundle {
  /** The bundled ESM module. */
  code: Uint8Array;
  /** Absolute path of the entry file the bundle was made from. */
  entry: string;
  /** `sha256:<hex>` of `code`. */
  digest: string;
}

/**
 * A CommonJS dependency bundled into ESM output still calls `require("node:fs")`; esbuild turns
 * that into a shim that throws "Dynamic require ... is not supported" unless a real `require`
 * exists in module scope (esbuild issue #1921). The alias keeps the name clear of user code.
 */
const REQUIRE_BANNER =
  'import { createRequire as __fnrunCreateRequire } from "node:module";\n' +
  "const require = __fnrunCreateRequire(import.meta.url);";

/** Finds the entry of a function folder, or throws FNRUN_BUILD_NO_ENTRY. */
export async function findEntry(dir: string): Promise<string> {
  for (const name of ENTRY_NAMES) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next name
    }
  }
  throw new BuildError("FNRUN_BUILD_NO_ENTRY", `bundle \`${displayPath(dir)}\`: no entry file (looked for ${ENTRY_NAMES.join(", ")})`, {
    fix: `create ${path.join(displayPath(dir), "index.ts")} with a default export`,
  });
}

/** Bundles the function in `dir` into a single ESM module for Node 20. */
export async function bundleFunction(dir: string): Promise<Bundle> {
  const absDir = path.resolve(dir);
  const entry = await findEntry(absDir);
  let code: Uint8Array;
  try {
    const result = await build({
      // Paths esbuild writes into comments are relative to absWorkingDir, so the same folder
      // copied elsewhere gives the same bytes, hence the same digest and the same image.
      absWorkingDir: absDir,
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      outfile: path.join(absDir, "index.mjs"),
      banner: { js: REQUIRE_BANNER },
      logLevel: "silent",
    });
    code = result.outputFiles[0].contents;
  } catch (err) {
    throw toBuildError(absDir, err);
  }
  const digest = `sha256:${createHash("sha256").update(code).digest("hex")}`;
  return { code, entry, digest };
}

function toBuildError(dir: string, err: unknown): BuildError {
  const errors: Message[] = (err as Partial<BuildFailure>)?.errors ?? [];
  const first = errors[0];
  if (!first) {
    return new BuildError("FNRUN_BUILD_FAILED", `bundle \`${displayPath(dir)}\`: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const loc = first.location;
  const file = loc ? displayPath(path.resolve(dir, loc.file)) : displayPath(dir);
  const line = loc?.line;
  const column = loc ? loc.column + 1 : undefined;
  const where = loc ? `${file}:${line}:${column}` : file;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? "s" : ""})` : "";
  const unresolved = /^(Could not resolve |No matching export )/.test(first.text);
  const specifier = /^Could not resolve "([^"]+)"/.exec(first.text)?.[1];
  const fix = unresolved
    ? specifier && !specifier.startsWith(".") && !specifier.startsWith("/")
      ? `run \`npm install ${packageName(specifier)}\` in ${displayPath(dir)}, or fix the import`
      : "fix the import path (relative imports need the file to exist)"
    : "fix the code at that position";
  return new BuildError(unresolved ? "FNRUN_BUILD_UNRESOLVED" : "FNRUN_BUILD_SYNTAX", `${where}: ${first.text}${more}`, {
    file,
    line,
    column,
    fix,
    cause: err,
  });
}

/** `@scope/pkg/sub` → `@scope/pkg`; `pkg/sub` → `pkg`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** Relative to the working directory when inside it, so messages read `functions/x/index.ts:3:7`. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}
