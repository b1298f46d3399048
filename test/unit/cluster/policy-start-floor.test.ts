// The floors a starting member holds the bucket's `current` to: a version below its peers', its
// state file's or the history's newest is not taken (the history's newest is, when it reaches
// every floor); a peer's same number with another digest is not newer; the version is read from
// an entry's gzip head, a big policy included.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { judgeStart, olderThan, payloadVersion, type StartFloors } from '../../../cluster/policy/policy-start-floor.js';
import { newEntry } from '../../../cluster/policy/index.js';

const D1 = 'a'.repeat(64);
const D2 = 'b'.repeat(64);
const none: StartFloors = { stateFile: 0, peers: null, history: null };
const hist = (version: number, revision: number): StartFloors['history'] => ({ version, value: { revision, value: new Uint8Array([1]) } });

describe('policy start floors', () => {
  it('a lone member without state file and history takes any version', () => {
    expect(judgeStart({ version: 1, digest: D1 }, 1, none)).toEqual({ kind: 'take' });
  });

  it('below the version a peer runs: not taken; the history\'s newest instead when it reaches the floors', () => {
    const f: StartFloors = { stateFile: 0, peers: { version: 5, digest: D1, member: 'm1' }, history: hist(5, 9) };
    expect(judgeStart({ version: 1, digest: D2 }, 10, f)).toMatchObject({ kind: 'older', floor: 5, instead: { revision: 9 } });
    expect(judgeStart({ version: 1, digest: D2 }, 10, { ...f, history: hist(4, 9) })).toMatchObject({ kind: 'older', floor: 5, instead: null });
    expect(judgeStart({ version: 5, digest: D1 }, 9, f)).toEqual({ kind: 'take' });
    expect(judgeStart({ version: 6, digest: D2 }, 11, f)).toEqual({ kind: 'take' });
  });

  it('the same number as a peer\'s with another digest is not newer', () => {
    const f: StartFloors = { ...none, peers: { version: 2, digest: D1, member: 'm1' } };
    expect(olderThan({ version: 2, digest: D2 }, f)).toMatchObject({ floor: 2, by: expect.stringMatching(/another digest/) });
    expect(olderThan({ version: 2, digest: D1 }, f)).toBeNull();
  });

  it('the history\'s newest and the state file are floors too; the entry itself is never its own alternative', () => {
    expect(judgeStart({ version: 1, digest: D1 }, 3, { ...none, history: hist(2, 2) })).toMatchObject({ kind: 'older', floor: 2, instead: { revision: 2 } });
    expect(judgeStart({ version: 1, digest: D1 }, 2, { ...none, history: hist(2, 2) })).toMatchObject({ kind: 'older', instead: null });
    expect(judgeStart({ version: 3, digest: D1 }, 5, { ...none, stateFile: 4, history: hist(3, 5) })).toMatchObject({ kind: 'older', floor: 4, instead: null });
  });

  it('reads the version from the gzip head of an entry, also of a large one; 0 for junk', () => {
    const routes = Array.from({ length: 2_000 }, (_, i) => ({ name: `r${i}`, match: { path: `/p${i}/*` }, upstream: 'u', auth: 'none' }));
    const e = newEntry({ routes, upstreams: { u: { targets: ['http://127.0.0.1:1'] } } }, 4_321, 4_320, 'alice');
    expect(payloadVersion(gzipSync(JSON.stringify(e)))).toBe(4_321);
    expect(payloadVersion(gzipSync('{"v":1}'))).toBe(0);
    expect(payloadVersion(new Uint8Array([1, 2, 3]))).toBe(0);
  });
});
