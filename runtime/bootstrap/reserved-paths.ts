/**
 * @module runtime/bootstrap/reserved-paths
 * The paths under /__fnrun/ that the bootstrap answers itself (the public gateway refuses them
 * from clients). No imports: the runtime, the gateway's jobs and `fnrun export k8s` take them
 * from here without pulling the bootstrap in, and the bootstrap, bundled alone, takes them too.
 */

/** A stem cell's specialization (POST) and the instance's load state (GET). */
export const LOAD_PATH = "/__fnrun/load";
/** A cron run of the function's scheduled() (POST). */
export const SCHEDULED_PATH = "/__fnrun/scheduled";
/** The readiness/liveness probe of an image run outside fnrun (`fnrun export k8s` points Kubernetes at it). */
export const HEALTH_PATH = "/__fnrun/health";
