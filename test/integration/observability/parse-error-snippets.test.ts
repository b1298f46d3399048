// V8's JSON.parse errors quote the text around the error ("Unexpected token 's', ..."d":s7VG9GPzpQ"...").
// Where that text is a secret the message must not carry it: a private JWK key file with a lost
// quote (`internal_tokens.key_file`: the start-failure log line and stderr) and a revocation body
// with an unquoted raw token (the admin answer and its audit record).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, runCli, writeConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

/** Every 6-character piece of `secret`: none may appear in an output. */
const pieces = (secret: string): string[] => Array.from({ length: secret.length - 5 }, (_, i) => secret.slice(i, i + 6));

let echo: EchoUpstream;
beforeAll(async () => { echo = await startEchoUpstream(); });
afterAll(async () => { await echo?.close(); });

describe('JSON parse errors of secret text', () => {
  it('a private JWK key file that is not valid JSON fails the start without quoting the key', async () => {
    // a `d` starting with a letter: V8 then reports an unexpected token and quotes the text around it
    let jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    while (!/^[A-Za-z]/.test(jwk.d!)) jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const keyFile = join(tempDir('portcullis-jwk-snippet-'), 'key.json');
    // the quotes around "d" lost in an edit
    writeFileSync(keyFile, `{"kty":"EC","crv":"P-256","x":"${jwk.x!}","y":"${jwk.y!}","d":${jwk.d!}}`);
    const config = writeConfig(baseConfig(echo.url, {
      issuers: { demo: { issuer: 'http://127.0.0.1:9', audiences: ['x'], discovery: false, jwks_uri: 'http://127.0.0.1:9/jwks' } },
      routes: [{ name: 'all', match: { path: '/*' }, upstream: 'app', auth: {}, forward: { token: 'internal' } }],
      internal_tokens: { issuer: 'https://portcullis.test', key_file: keyFile },
    }));
    const r = await runCli(['serve', '--config', config], ADMIN_ENV, 30_000);
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('internal_tokens.key_file');
    for (const p of pieces(jwk.d!)) expect(out, `a piece of the private key (${p}) in the output`).not.toContain(p);
  });

  describe('a revocation body with an unquoted raw token', () => {
    let proxy: ProxyProcess;
    let file: string;
    beforeAll(async () => {
      file = join(tempDir('portcullis-audit-snippet-'), 'audit.log');
      proxy = await startProxy(baseConfig(echo.url, { log: { level: 'info', access: false, audit: { file } } }));
    });
    afterAll(async () => { await proxy?.stop(); });

    it('is refused 400 and its audit record names no piece of the token', async () => {
      const token = 'Zq8xW3vN5kR7tY2mP9sL4cB6';
      const r = await fetch(`${proxy.adminUrl}/revocations`, {
        method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: `{"kind":"token","value":${token}}`,
      });
      const answer = await r.text();
      expect(r.status).toBe(400);
      expect(answer).toContain('not valid JSON');
      await waitFor("existsSync(file) && readFileSync(file, 'utf8').includes('revocation.add')", () => existsSync(file) && readFileSync(file, 'utf8').includes('revocation.add'), 5_000);
      const text = readFileSync(file, 'utf8') + answer + proxy.output();
      for (const p of pieces(token)) expect(text, `a piece of the token (${p})`).not.toContain(p);
    });
  });
});
