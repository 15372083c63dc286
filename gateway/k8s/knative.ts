/**
 * @module gateway/k8s/knative
 * A function as a Knative Serving Service (serving.knative.dev/v1), the closest thing on
 * Kubernetes to fnrun's pool: it scales on requests in flight, down to zero.
 *
 * - `containerConcurrency` = `concurrency` (a hard limit per pod, as fnrun's).
 * - `autoscaling.knative.dev/min-scale` / `max-scale` = min/max_instances (0 scales to zero).
 * - `timeoutSeconds` = `timeout` (Knative's default ceiling is 600 s).
 * - Knative accepts only part of a PodSpec (its webhook refuses the rest): the hardening sits
 *   on the container (a pod-level securityContext needs Knative's
 *   `kubernetes.podspec-securitycontext` flag) and without `privileged`, which Knative never
 *   accepts (false is the default anyway); allowPrivilegeEscalation and seccompProfile need
 *   Knative ≥ 1.8. No startup probe, no grace period (Knative derives it from the timeout), no
 *   PORT (Knative sets it from the container port, which must be named http1).
 * - /tmp is an emptyDir: it needs `kubernetes.podspec-emptydir`, on by default in current
 *   Knative releases.
 */
import type { IService as IKnativeService } from "@kubernetes-models/knative/serving.knative.dev/v1/Service";
import { labels, objectName } from "./naming.ts";
import { drainEnv, functionContainer, functionEnv, listenPort, probes, tmpVolume, type ExportedFunction } from "./pod.ts";
import { seconds } from "./quantities.ts";

export interface KnativeOptions {
  namespace?: string;
}

export function knativeService(fn: ExportedFunction, opts: KnativeOptions): IKnativeService {
  const { config } = fn;
  const port = listenPort(config);
  // Knative sets PORT from the container port itself and refuses a container env named PORT.
  const container = functionContainer(fn, functionEnv(fn, [drainEnv(config)], ["PORT"]), {
    ports: [{ name: "http1", containerPort: port, protocol: "TCP" }],
    ...probes(port, false),
  });
  const { privileged: _notAccepted, ...securityContext } = container.securityContext!;
  container.securityContext = securityContext;
  return {
    apiVersion: "serving.knative.dev/v1",
    kind: "Service",
    metadata: { name: objectName(config.name), ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: labels(config.name, "http") },
    spec: {
      template: {
        metadata: {
          labels: labels(config.name, "http", fn.revision),
          annotations: {
            "autoscaling.knative.dev/min-scale": String(config.minInstances),
            "autoscaling.knative.dev/max-scale": String(config.maxInstances),
          },
        },
        spec: {
          containerConcurrency: config.concurrency,
          timeoutSeconds: seconds(config.timeoutMs),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          containers: [container],
          volumes: [tmpVolume(config)],
        },
      },
    },
  };
}
