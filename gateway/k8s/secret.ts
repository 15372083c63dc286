/**
 * @module gateway/k8s/secret
 * The Secret a function's secrets live in on the cluster. fnrun never lets a secret's value
 * out of the daemon (not in `ls`, logs, errors, metrics — nor in an export), so the exported
 * Secret is a template: its keys with empty values, written apart from the manifests
 * (`secrets/NAME-secrets.yaml` with -o), to be filled and applied once — or replaced by the
 * `kubectl create secret` command printed with it. Until it exists with every key, the pods
 * do not start (their env refers to each key with optional: false), rather than running
 * without their secrets.
 */
import type { ISecret } from "kubernetes-models/v1/Secret";
import { MANAGED_BY, objectName, secretName } from "./naming.ts";

export function secretTemplate(fn: string, keys: string[], namespace?: string): ISecret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secretName(fn), ...(namespace ? { namespace } : {}), labels: { "app.kubernetes.io/name": objectName(fn), ...MANAGED_BY } },
    type: "Opaque",
    stringData: Object.fromEntries(keys.map((k) => [k, ""])),
  };
}

/** The command that creates the Secret with values typed in (or read from files with --from-file). */
export function createSecretCommand(fn: string, keys: string[], namespace?: string): string {
  const ns = namespace ? ` -n ${namespace}` : "";
  return `kubectl create secret generic ${secretName(fn)}${ns} ${keys.map((k) => `--from-literal=${k}=…`).join(" ")}`;
}
