/**
 * @module builder/bundle-banner
 * What every function bundle starts with (bundle.ts explains why): three built-in modules and
 * `require`, `__fnrun_filename` and `__fnrun_dirname` for bundled CommonJS. No imports: the
 * bootstrap, bundled on its own into the base image, warms a stem cell's module loader with it.
 */
export const SHIM_BANNER = [
  'import { createRequire as __fnrun_createRequire } from "node:module";',
  'import { fileURLToPath as __fnrun_fileURLToPath } from "node:url";',
  'import { dirname as __fnrun_pathDirname } from "node:path";',
  "const require = __fnrun_createRequire(import.meta.url);",
  "const __fnrun_filename = __fnrun_fileURLToPath(import.meta.url);",
  "const __fnrun_dirname = __fnrun_pathDirname(__fnrun_filename);",
].join("\n");
