// What a newer build would publish: a `revocation.added` (or any message) under one more shared
// record (v3, a new field) than this build's codec knows — authentic under the key, unreadable here.
import { Packr } from 'msgpackr';
import { MESSAGE_SPECS } from '../../../cluster/protocol/index.js';

/** The newer build's revocation of `jti` (codec bytes, not sealed): lives 10 min. */
export function nextBuildRevocation(jti: string): Uint8Array {
  const v3 = ['type', 'v', 'id', 'kind', 'value', 'issuer', 'before', 'expiresAt', 'reason', 'createdAt', 'origin', 'publishedAt', 'scope'];
  const structures = [...MESSAGE_SPECS.map((s) => [...s.fields]), v3];
  const packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
  const now = Date.now();
  return packr.pack({
    type: 'revocation.added', v: 3, id: `next-${now}`, kind: 'jti', value: jti, issuer: null, before: null,
    expiresAt: Math.floor(now / 1000) + 600, reason: null, createdAt: now, origin: 'next-build-member', publishedAt: now, scope: 'all',
  });
}

/**
 * What a newer build would publish in another area: `msg` (a known type at a version this build lacks,
 * or a new type) under one more shared record than this build's codec knows — or, `sameRecord`, under
 * the record of the spec with its fields (a new version of the same shape: its type stays readable) —
 * authentic under the key once sealed, unreadable here. Codec bytes, not sealed.
 */
export function nextBuildMessage(msg: Record<string, unknown>, sameRecord = false): Uint8Array {
  const structures = [...MESSAGE_SPECS.map((s) => [...s.fields]), ...(sameRecord ? [] : [Object.keys(msg)])];
  const packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false, bundleStrings: false, mapsAsObjects: true });
  return packr.pack(msg);
}
