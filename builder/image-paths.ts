/**
 * @module builder/image-paths
 * Paths inside every fnrun image that the builder lays out, the runtime mounts and the
 * bootstrap reads. No imports: the bootstrap, bundled alone into the base image, takes them
 * from here too, so the three cannot drift apart.
 */

/** Where a stem cell's function bundle is put when it is specialized (a read-only bind mount). */
export const CODE_DIR_IN_IMAGE = "/run/fnrun-code";
/** The bundle a specialized stem cell imports. */
export const STEM_ENTRY = `${CODE_DIR_IN_IMAGE}/index.mjs`;
