/**
 * @module gateway/k8s/deployment
 * A function's Deployment (apps/v1): its HTTP server pods. A rollout starts new pods before
 * old ones go (maxUnavailable 0), as an fnrun deploy starts the new revision before the old
 * one drains. With an HPA the replica count is left out: the HPA owns it, and a re-applied
 * manifest would otherwise reset it (Kubernetes' advice for autoscaled Deployments).
 */
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { labels, objectName, selector } from "./naming.ts";
import { drainEnv, functionContainer, functionEnv, functionPod, listenPort, probes, type ExportedFunction, type PodOptions } from "./pod.ts";

export interface DeploymentOptions extends PodOptions {
  namespace?: string;
  /** An HPA scales this Deployment: leave `replicas` to it. */
  autoscaled: boolean;
}

/** At least one replica: a Deployment without an HPA cannot scale from zero on a request. */
export function minReplicas(minInstances: number): number {
  return Math.max(1, minInstances);
}

export function deployment(fn: ExportedFunction, opts: DeploymentOptions): IDeployment {
  const name = fn.config.name;
  const port = listenPort(fn.config);
  const container = functionContainer(fn, functionEnv(fn, [{ name: "PORT", value: String(port) }, drainEnv(fn.config)]), {
    ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
    ...probes("http", true),
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: objectName(name), ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: labels(name, "http") },
    spec: {
      ...(opts.autoscaled ? {} : { replicas: minReplicas(fn.config.minInstances) }),
      selector: { matchLabels: selector(name) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels(name, "http", fn.revision) },
        spec: functionPod(fn, container, opts),
      },
    },
  };
}
