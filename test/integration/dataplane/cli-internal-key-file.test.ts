// internal_tokens.key_file that exists but cannot sign (not a PEM/JWK private key, or a key of
// another type than internal_tokens.alg): check-config exits 2 naming the field, as serve refuses
// it. Before, check-config said ok and serve exited 1. A missing file is still fine (created).
// A private JWK whose d is not its x/y's (another key's d, or garbage) is refused the same way:
// before, both said ok and every token it minted failed verification at the upstream.
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
  const ec = (): Record<string, string> => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const ed = (): Record<string, string> => generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as Record<string, string>;
  const [a, b] = [ec(), ec()];
  writeFileSync(f('ec-good.jwk'), JSON.stringify(a));
  writeFileSync(f('ec-other-d.jwk'), JSON.stringify({ ...a, d: b.d }));
  writeFileSync(f('ec-garbage-d.jwk'), JSON.stringify({ ...a, d: 'A'.repeat(42) + 'B' }));
  writeFileSync(f('ed-other-x.jwk'), JSON.stringify({ ...ed(), x: ed().x }));
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

  it('a private JWK whose d does not match its x/y: exit 2 naming internal_tokens.key_file and the file; a matching one passes', async () => {
    const [good, otherD, garbageD, edX] = await Promise.all([
      runCli(['check-config', withKey(f('ec-good.jwk'))], ADMIN_ENV),
      runCli(['check-config', withKey(f('ec-other-d.jwk'))], ADMIN_ENV),
      runCli(['check-config', withKey(f('ec-garbage-d.jwk'))], ADMIN_ENV),
      runCli(['check-config', withKey(f('ed-other-x.jwk'), 'EdDSA')], ADMIN_ENV),
    ]);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    for (const [r, name] of [[otherD, 'ec-other-d'], [garbageD, 'ec-garbage-d'], [edX, 'ed-other-x']] as const) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`internal_tokens\\.key_file: .*${name}\\.jwk: .*does not match its public`));
    }
  });

  it('serve refuses a JWK whose d is another key\'s with exit 2, before listening', async () => {
    const r = await runCli(['serve', '--config', withKey(f('ec-other-d.jwk'))], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/internal_tokens\.key_file: .*ec-other-d\.jwk: .*does not match its public/);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });

  it('serve refuses the same file with exit 2 and the same line, before listening', async () => {
    const r = await runCli(['serve', '--config', withKey(f('junk.pem'))], ADMIN_ENV);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/internal_tokens\.key_file: .*junk\.pem: not a PEM or JWK private key/);
    expect(r.stdout).not.toMatch(/"msg":"listening"/);
  });
});
