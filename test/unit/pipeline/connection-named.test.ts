// connectionNamed: the fields a Connection header names (dropped by the forwarder both ways).
import { describe, expect, it } from 'vitest';
import { connectionNamed } from '../../../node/pipeline/index.js';

describe('connectionNamed', () => {
  it('null when nothing or only hop-by-hop fields are named (dropped anyway)', () => {
    expect(connectionNamed(null)).toBeNull();
    expect(connectionNamed('keep-alive')).toBeNull();
    expect(connectionNamed(' Keep-Alive ')).toBeNull();
    expect(connectionNamed('Upgrade')).toBeNull();
  });

  it('names beyond the hop-by-hop list, lower-cased and trimmed, one or several', () => {
    expect(connectionNamed('close')).toEqual(new Set(['close']));
    expect(connectionNamed(' X-Custom ')).toEqual(new Set(['x-custom']));
    expect(connectionNamed('keep-alive, X-A,x-b')).toEqual(new Set(['keep-alive', 'x-a', 'x-b']));
  });
});
