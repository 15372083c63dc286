/**
 * @module gateway/k8s/quantities
 * fnrun's sizes, CPU shares and durations as Kubernetes quantities and seconds.
 */
const Ki = 1024;
const Mi = Ki * 1024;
const Gi = Mi * 1024;

/** Bytes as a quantity in the largest binary unit that divides it ("64Mi", "1Gi", "1536Ki"). */
export function bytesQuantity(bytes: number): string {
  for (const [unit, size] of [["Gi", Gi], ["Mi", Mi], ["Ki", Ki]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** A share of one core as millicores ("500m"), or whole cores ("2"); at least 1m. */
export function cpuQuantity(cpu: number): string {
  const milli = Math.max(1, Math.round(cpu * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Milliseconds as whole seconds, rounded up (Kubernetes' timeouts are whole seconds). */
export function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
