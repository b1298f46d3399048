// Which config file names a cluster policy (`cluster.policy.source: cluster`) and its local part,
// validated: the only policy code check-config needs, so it loads none of the watcher's modules.
import { readConfigText, validateLocal, type Config, type ConfigProblem, type Environment } from '../../node/config/index.js';
import { parseYaml } from './policy-document.js';

/**
 * The config file of an instance with `cluster.policy.source: cluster`, its local part validated
 * (with this environment); null when the file's own policy is used (source: file, or unreadable:
 * the ordinary loader reports that). `stateFolders`: at start (LoadOptions.stateFolders).
 */
export function readClusterPolicyConfig(file: string, env: Environment | null = process.env, stateFolders: boolean | 'before-start' = false): null | { ok: true; config: Config; raw: unknown } | { ok: false; errors: ConfigProblem[] } {
  const read = readConfigText(file);
  if (!read.ok) return null;
  const parsed = parseYaml(read.text);
  if (!parsed.ok) return null;
  const source = (parsed.raw as { cluster?: { policy?: { source?: unknown } } } | null)?.cluster?.policy?.source;
  if (source !== 'cluster') return null;
  const r = validateLocal(parsed.raw, { env, stateFolders });
  return r.ok ? { ok: true, config: r.config, raw: parsed.raw } : r;
}
