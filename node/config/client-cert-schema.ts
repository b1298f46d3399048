// routes[].client_cert: what a route requires of the verified client certificate (mTLS on the
// HTTP/2 TLS listener), and the cross-check that such a route can be reached with one at all.
import { z } from 'zod';

/**
 * An exact value, or a prefix ending in `/*` (SAN URI: `spiffe://trust/ns/x/*` matches every id
 * under it, at any depth) or starting with `*.` (SAN DNS: exactly one more label). No other `*`.
 */
function pattern(kind: 'cn' | 'uri' | 'dns') {
  return z.string().min(1).superRefine((v, ctx) => {
    const star = v.indexOf('*');
    if (star === -1) return;
    const ok = kind === 'uri' ? star === v.length - 1 && v.endsWith('/*') && v.length > 2
      : kind === 'dns' ? star === 0 && v.startsWith('*.') && v.length > 2 && !v.slice(1).includes('*')
        : false;
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        message: kind === 'uri' ? 'an exact URI, or a prefix ending in /* (spiffe://trust/ns/x/*)'
          : kind === 'dns' ? 'an exact name, or *.suffix (one label)' : 'an exact common name (no wildcards)',
      });
    }
  });
}

/**
 * Within a list any entry may match; every list given must match (AND across fields). At least
 * one list. Checked before the token: both must pass on a route with `auth` rules.
 */
export const clientCertRuleSchema = z.strictObject({
  subject_cn: z.array(pattern('cn')).min(1).optional(),
  san_uri: z.array(pattern('uri')).min(1).optional(),
  san_dns: z.array(pattern('dns')).min(1).optional(),
}).refine((r) => r.subject_cn !== undefined || r.san_uri !== undefined || r.san_dns !== undefined, {
  message: 'name at least one of subject_cn, san_uri, san_dns (an empty rule would admit any certificate)',
});

export type ClientCertRuleConfig = z.infer<typeof clientCertRuleSchema>;

/**
 * A route with client_cert needs a listener that sees client certificates: the HTTP/2 listener
 * with tls.client_ca_file. Without one every request to it would be refused: an error, not a warning.
 */
export function checkClientCertRoutes(cfg: {
  readonly server: { readonly http2?: { readonly tls?: { readonly client_ca_file?: string } } };
  readonly routes: ReadonlyArray<{ readonly client_cert?: unknown }>;
}): Array<{ path: string; message: string }> {
  const tls = cfg.server.http2?.tls;
  if (tls?.client_ca_file !== undefined) return [];
  const out: Array<{ path: string; message: string }> = [];
  cfg.routes.forEach((r, i) => {
    if (r.client_cert === undefined) return;
    out.push({
      path: `routes[${i}].client_cert`,
      message: 'no listener sees client certificates: configure server.http2 with tls.client_ca_file (the uWS listener cannot read peer certificates)',
    });
  });
  return out;
}
