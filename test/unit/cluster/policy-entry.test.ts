// Policy entries in the bucket are sealed with the bus key and bound to their bucket: an
// authentic entry opens; unsigned, tampered, foreign-key, other-bucket, corrupt and
// digest-mismatched ones are refused with their reason.
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BusAuth } from '../../../cluster/protocol/index.js';
import { newEntry, openEntry, sealEntry } from '../../../cluster/policy/index.js';

const key = randomBytes(32);
const auth = new BusAuth({ key });
const policy = { routes: [{ name: 'a', match: { path: '/' }, upstream: 'u', auth: 'none' }], upstreams: { u: { targets: ['http://127.0.0.1:1'] } } };
const BUCKET = 'PT_POLICY';

describe('policy entry', () => {
  it('round-trips when sealed with the bus key', () => {
    const e = newEntry(policy, 3, 2, 'alice', 1_700_000_000_000);
    const o = openEntry(sealEntry(e, BUCKET, auth), BUCKET, auth);
    expect(o).toEqual({ ok: true, entry: e });
  });

  it('refuses unsigned, tampered, another key\'s, another bucket\'s entries', () => {
    const e = newEntry(policy, 1, 0, 'alice');
    expect(openEntry(sealEntry(e, BUCKET, null), BUCKET, auth)).toEqual({ ok: false, reason: 'unsigned' });
    const sealed = Buffer.from(sealEntry(e, BUCKET, auth));
    sealed[sealed.length - 3] ^= 1;
    expect(openEntry(sealed, BUCKET, auth)).toMatchObject({ ok: false, reason: 'bad_mac' });
    expect(openEntry(sealEntry(e, BUCKET, new BusAuth({ key: randomBytes(32) })), BUCKET, auth)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(openEntry(sealEntry(e, 'OTHER_POLICY', auth), BUCKET, auth)).toEqual({ ok: false, reason: 'bad_mac' });
  });

  it('refuses corrupt content and a digest that does not match the policy, even when signed', () => {
    expect(openEntry(auth.seal(`<kv>${BUCKET}.current`, Buffer.from('not gzip')), BUCKET, auth)).toEqual({ ok: false, reason: 'corrupt' });
    const e = { ...newEntry(policy, 1, 0, 'alice'), policy: { ...policy, routes: [] } };
    const forged = auth.seal(`<kv>${BUCKET}.current`, gzipSync(JSON.stringify(e)));
    expect(openEntry(forged, BUCKET, auth)).toEqual({ ok: false, reason: 'digest_mismatch' });
    const noVersion = auth.seal(`<kv>${BUCKET}.current`, gzipSync(JSON.stringify({ ...newEntry(policy, 1, 0, 'a'), version: 0 })));
    expect(openEntry(noVersion, BUCKET, auth)).toEqual({ ok: false, reason: 'corrupt' });
  });
});
