/**
 * @module gateway/k8s/errors
 * The one error of `fnrun export k8s`: a user error listing every problem found (a schedule
 * Kubernetes cannot express, a function not deployed, two functions on one Ingress path…),
 * each naming the function or option and the fix, as config.toml's diagnostics do.
 */

export class K8sExportError extends Error {
  override name = "K8sExportError";
  readonly code = "FNRUN_EXPORT_INVALID";
  readonly kind = "user";
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? `export k8s: ${problems[0]}` : `export k8s: ${problems.length} problems:\n  ${problems.join("\n  ")}`);
  }
}
