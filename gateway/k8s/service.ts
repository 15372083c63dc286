/**
 * @module gateway/k8s/service
 * A function's Service: port 80 (named http) to the pods' port 8080, selecting only its HTTP
 * pods (never its CronJob's runs). Ingress and HTTPRoute send traffic here.
 */
import type { IService } from "kubernetes-models/v1/Service";
import { labels, objectName, selector } from "./naming.ts";

export const SERVICE_PORT = 80;

export function service(fn: string, namespace?: string): IService {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: objectName(fn), ...(namespace ? { namespace } : {}), labels: labels(fn, "http") },
    spec: {
      type: "ClusterIP",
      selector: selector(fn),
      ports: [{ name: "http", port: SERVICE_PORT, targetPort: "http", protocol: "TCP" }],
    },
  };
}
