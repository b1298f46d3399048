// Admin API of cluster policy: GET /policy (the active version, digest, last error) and
// POST /policy (body: a policy in YAML or JSON; `?base=N` refuses it when N is no longer the
// latest version, `&force=1` publishes anyway). Both need the admin token (admin-server.ts).
import type { AdminHandler } from '../../node/admin/admin-server.js';
import { preparePolicy, parseYaml } from './policy-document.js';
import { StalePolicyBase } from './policy-push.js';
import { PolicyConflict } from './policy-store.js';
import type { PolicyWatcher } from './policy-watcher.js';

export function policyAdminRoutes(watcher: PolicyWatcher, localRaw: unknown, memberId: string): Record<string, AdminHandler> {
  return {
    'GET /policy': async () => ({ status: 200, body: watcher.status() }),
    'POST /policy': async (req, body) => {
      const q = new URL(req.url ?? '/', 'http://admin').searchParams;
      const baseText = q.get('base');
      if (baseText !== null && !/^\d+$/.test(baseText)) return { status: 400, body: { error: 'invalid_request', message: 'base: a version number' } };
      const parsed = parseYaml(body);
      if (!parsed.ok) return { status: 422, body: { pushed: false, errors: parsed.errors } };
      const p = preparePolicy(localRaw, parsed.raw);
      if (!p.ok) return { status: 422, body: { pushed: false, errors: p.errors } };
      try {
        const e = await watcher.push(p.policy as Record<string, unknown>, { by: `admin-api@${memberId}`, ...(baseText === null ? {} : { base: Number(baseText) }), force: q.get('force') === '1' });
        return { status: 200, body: { pushed: true, version: e.version, digest: e.digest, based_on: e.basedOn } };
      } catch (err) {
        if (err instanceof StalePolicyBase || err instanceof PolicyConflict) return { status: 409, body: { pushed: false, error: 'conflict', message: err.message } };
        return { status: 503, body: { pushed: false, error: 'unavailable', message: (err as Error).message } };
      }
    },
  };
}
