// The running Portcullis version (package.json's), for exported telemetry (service.version).
import { readFileSync } from 'node:fs';

function read(): string {
  try {
    // source: node/version.ts, compiled: dist/node/version.js — package.json is one or two levels up
    for (const rel of ['../package.json', '../../package.json']) {
      try {
        const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'portcullis' && typeof pkg.version === 'string') return pkg.version;
      } catch { /* try the next */ }
    }
  } catch { /* fall through */ }
  return 'unknown';
}

/** package.json's version, 'unknown' when it cannot be read. */
export const PORTCULLIS_VERSION = read();
