// A policy section (issuers, upstreams, routes, dpop, internal tokens…) may not name the instance's own
// secrets: a variable or a file its local part (admin, cluster, server, tracing, event sources) reads.
// A client_secret_env naming the bus key sent that key to whatever endpoint the policy named.
import { resolve } from 'node:path';
import { shownEnvName } from '../contracts/index.js';
import { isPolicyKey } from './policy-keys.js';
import type { ConfigProblem } from './problem.js';

/** One `*_env` / `*_file` field as the environment walk finds it: dotted path, kind, the name or path written. */
export type SecretField = readonly [path: string, kind: 'env' | 'file', value: string];

/** The top-level key of a dotted config path (`issuers.a.b` → `issuers`, `routes[3].x` → `routes`). */
const topKey = (path: string): string => /^[^.[]*/.exec(path)![0];

/**
 * Every policy field naming a variable or file a local field names, with its path; empty = none.
 * The value of the variable is never read here, and a name that may be a secret is not shown.
 */
export function localSecretProblems(fields: readonly SecretField[]): ConfigProblem[] {
  const localEnv = new Map<string, string>();
  const localFile = new Map<string, string>();
  for (const [path, kind, value] of fields) {
    if (isPolicyKey(topKey(path))) continue;
    if (kind === 'env') { if (!localEnv.has(value)) localEnv.set(value, path); } else if (!localFile.has(resolve(value))) localFile.set(resolve(value), path);
  }
  if (localEnv.size === 0 && localFile.size === 0) return [];
  const out: ConfigProblem[] = [];
  for (const [path, kind, value] of fields) {
    if (!isPolicyKey(topKey(path))) continue;
    const local = kind === 'env' ? localEnv.get(value) : localFile.get(resolve(value));
    if (local === undefined) continue;
    const what = kind === 'env' ? `variable ${shownEnvName(value)}` : `file ${value}`;
    out.push({ path, message: `names the ${what}, which ${local} names: the instance's own secret is not the policy's to read (it would be sent to the endpoint the policy names); give this field its own ${kind === 'env' ? 'variable' : 'file'}` });
  }
  return out;
}
