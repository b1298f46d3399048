// What one audit record says: who asked (the actor), what was asked, how it ended, the versions
// before and after. Plain data; written by the audit log (audit-log.ts).

/** Who asked. */
export type AuditActor =
  | { readonly kind: 'admin_token'; readonly token: string; readonly address: string }
  | { readonly kind: 'unauthenticated'; readonly token: string | null; readonly address: string }
  /** The read-only scrape token (`admin.metrics_token_env`), refused on anything but GET /metrics. */
  | { readonly kind: 'metrics_token'; readonly token: string; readonly address: string }
  | { readonly kind: 'signal'; readonly signal: string }
  | { readonly kind: 'file_watch' }
  /** Another cluster member (a revocation that arrived over the bus): its member id. */
  | { readonly kind: 'member'; readonly origin: string }
  /** Whoever pushed a cluster policy version (`policy push --by NAME`, or `admin-api@<member>`), as its entry records it. */
  | { readonly kind: 'policy_pusher'; readonly by: string };

/** One audit record (`action` names what was asked, `outcome` how it ended). */
export interface AuditRecord {
  readonly action: string;
  readonly actor: AuditActor;
  readonly outcome: 'ok' | 'refused' | 'failed' | 'unauthorized';
  /** The HTTP status of an admin call. */
  readonly status?: number;
  /** Versions before and after (config, policy) when the action can change them. */
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after?: Readonly<Record<string, unknown>>;
  /** What the action was about, without secrets (a revocation's kind and subject, a policy's digest…). */
  readonly detail?: Readonly<Record<string, unknown>>;
}
