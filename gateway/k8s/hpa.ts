/**
 * @module gateway/k8s/hpa
 * A HorizontalPodAutoscaler (autoscaling/v2) from min/max_instances. fnrun scales on requests
 * in flight per instance (`concurrency`); an HPA without a metrics adapter sees CPU and
 * memory only, so it scales on CPU: at 70% of the pod's CPU (request = limit = `cpu`), a
 * node.js server is close to the quota at which its latency climbs, and the new pod has time
 * to start before requests queue. An HPA cannot scale to zero: minReplicas is at least 1
 * (Knative, `--knative`, can).
 */
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { FunctionConfig } from "../config.ts";
import { minReplicas } from "./deployment.ts";
import { labels, objectName } from "./naming.ts";

export const CPU_TARGET_PERCENT = 70;

/** Whether the function has room to scale: otherwise its Deployment's replicas say it all. */
export function needsHpa(config: FunctionConfig): boolean {
  return config.maxInstances > minReplicas(config.minInstances);
}

export function hpa(config: FunctionConfig, namespace?: string): IHorizontalPodAutoscaler {
  const name = objectName(config.name);
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, ...(namespace ? { namespace } : {}), labels: labels(config.name, "http") },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      minReplicas: minReplicas(config.minInstances),
      maxReplicas: config.maxInstances,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: CPU_TARGET_PERCENT } } }],
    },
  };
}
