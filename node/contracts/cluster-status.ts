// What the cluster member adds to an instance's /readyz, /healthz and /metrics.

/** The cluster part of readiness and metrics (cluster/process supplies it). */
export interface ClusterStatus {
  /** `ready` joins the instance's verdict; `detail` is merged into the /readyz body. */
  readiness(): { ready: boolean; detail: Record<string, unknown> };
  /** Flat counters for /metrics. */
  stats(): Record<string, number>;
  /** Informational fields merged into the /healthz body (never a failing verdict); absent = none. */
  health?(): Record<string, unknown>;
}
