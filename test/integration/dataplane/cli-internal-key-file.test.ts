// internal_tokens.key_file that exists but cannot sign (not a PEM/JWK private key, or a key of
// another type than internal_tokens.alg): check-config exits 2 naming the field, as serve refuses
// it. Before, check-config said ok and serve exited 1. A missing file is still fine (created).
import { describe, it, expect, beforeAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { runCli, writeConfig, baseConfig, ADMIN_ENV } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';

let dir: string;
const f = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = tempDir('portcullis-internal-key-');
  writeFileSync(f('junk.pem'), 'not a key\n');
  writeFileSync(f('ed.pem'), generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  writeFileSync(f('p256.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
});

const withKey = (keyFile: string, alg?: string): string => writeConfig(baseConfig('http://127.0.0.1:9', {
  internal_tokens: { issuer: 'http://127.0.0.1:8080', key_file: keyFile, ...(alg !== undefined ? { alg } : {}) },
}));

describe('check-config and internal_tokens.key_file', () => {
  it('not a key, or an Ed25519 key for ES256: exit 2 naming internal_tokens.key_file; a P-256 key, or a missing file, pass', async () => {
    const [junk, wrongType, good, missing] = await Promise.all([
      runCli(['check-config', withKey(f('junk.pem'))], ADMIN_ENV),
      runCli(['check-config', withKey(f('ed.pem'), 'ES256')], ADMIN_ENV),
      runCli(['check-config', withKey(f('p256.pem'))], ADMIN_ENV),
      runCli(['check-config', withKey(f('created-at-start.pem'))], ADMIN_ENV),
    ]);
    expect(junk.code, junk.stdout + junk.stderr).toBe(2);
    expect(junk.stderr).toMatch(/internal_tokens\.key_file: .*junk\.pem: not a PEM or JWK private key/);
    expect(wrongType.code, wrongType.stdout + wrongType.stderr).toBe(2);
    expect(wrongType.stderr).toMatch(/internal_tokens\.key_file: .*ed\.pem: a ed25519 key cannot sign ES256/);
    expect(good.code, good.stderr).toBe(0);
    expect(missing.code, missing.stderr).toBe(0);
  });

  it('serve refuses the same file with exit 2 and the same line, before listening', async () => {
    const r = await runCli(['serve', '--config', withKey(f('junk.pem'))], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/internal_tokens\.key_file: .*junk\.pem: not a PEM or JWK private key/);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });
});
