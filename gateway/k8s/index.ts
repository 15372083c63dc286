/**
 * @module gateway/k8s
 * Kubernetes manifests from fnrun's functions (`fnrun export k8s`): one concept per file.
 */
export { exportK8s, optionProblems, DEFAULT_GATEWAY, type DeployedFunction, type ExportFile, type K8sExport, type K8sExportOptions, type K8sObject } from "./export.ts";
export { K8sExportError } from "./errors.ts";
