// Config and policy text: a repeated mapping key is refused with yaml's own message, line and column
// wherever it sits; a mapping of tens of thousands of keys is read whole; JSON text (read without
// yaml) gives what yaml gives, data or errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseYamlText } from '../../../node/config/index.js';

const problems = (text: string): string[] => {
  const r = parseYamlText(text);
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
};

describe('config text: duplicate keys', () => {
  it('a repeated key in a block, flow or nested mapping is refused at its line and column', () => {
    expect(problems('upstreams: {}\nroutes: []\nupstreams: {}\n')).toEqual(['line 3: Map keys must be unique (column 1)']);
    expect(problems('upstreams: { a: { targets: [] }, b: 1, a: 2 }\n')).toEqual(['line 1: Map keys must be unique (column 40)']);
    expect(problems('routes:\n  - name: r\n    match: { path: /x }\n    name: s\n')).toEqual(['line 4: Map keys must be unique (column 5)']);
  });

  it('keys are equal as values: 1 and "1" differ, two empty keys do not', () => {
    expect(problems('a:\n  1: x\n  "1": y\n')).toEqual([]);
    expect(problems('a:\n  ? \n  : x\n  ? \n  : y\n')).toEqual(['line 5: Map keys must be unique (column 3)']);
  });

  it('a duplicate beside a syntax error: both reported, in the order of the text', () => {
    expect(problems('a: 1\na: 2\nb: [\n')).toEqual([
      'line 2: Map keys must be unique (column 1)',
      expect.stringMatching(/^line \d+: /),
    ]);
  });

  it('the same key in different mappings is no duplicate', () => {
    expect(problems('upstreams:\n  a: { targets: [x] }\n  b: { targets: [x] }\n')).toEqual([]);
  });

  it('a mapping of 20 000 keys is read whole; one of 2 000 with a key repeated last is refused at that line', () => {
    const keys = (n: number): string => { let t = 'upstreams:\n'; for (let i = 0; i < n; i++) t += `  u${i}: 1\n`; return t; };
    const r = parseYamlText(keys(20_000));
    expect(r.ok && Object.keys((r.raw as { upstreams: object }).upstreams).length).toBe(20_000);
    expect(problems(`${keys(2_000)}  u7: 2\n`)).toEqual(['line 2002: Map keys must be unique (column 3)']);
  });
});

describe('config text: aliases', () => {
  it('an alias with no anchor (or its anchor after it) is named, at its line and column, not called an alias bomb', () => {
    expect(problems('upstreams: {}\nroutes:\n  - *b\n')).toEqual([
      'line 3: alias *b is not defined: no anchor &b before it (an anchor must come before its aliases) (column 5)',
    ]);
    expect(problems('a: [1, *later]\nb: &later [2]\n')).toEqual([
      'line 1: alias *later is not defined: no anchor &later before it (an anchor must come before its aliases) (column 8)',
    ]);
    expect(problems('a: &x [1]\nb: *x\n')).toEqual([]);
  });

  it('an alias bomb is still refused as one', () => {
    let t = 'a0: &a0 [x, x]\n';
    for (let i = 1; i < 12; i++) t += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}, *a${i - 1}]\n`;
    expect(problems(t)).toEqual([expect.stringMatching(/^\(document\): more than 100 alias expansions/)]);
  });
});

describe('config text: YAML 1.2 only', () => {
  it('a %YAML 1.1 directive is refused at its line: yaml read `no` as false and merged `<<:` keys under it', () => {
    expect(problems('# portcullis\n%YAML 1.1\n---\nequals: no\n')).toEqual([
      expect.stringMatching(/^line 2: %YAML 1\.1 is not read: the config is YAML 1\.2, where yes\/no\/on\/off are strings/),
    ]);
    expect(problems('%YAML 1.2\n---\nequals: no\n')).toEqual([]);
    const r = parseYamlText('%YAML 1.2\n---\nequals: no\n<<: { a: 1 }\n');
    expect(r.ok && r.raw).toEqual({ equals: 'no', '<<': { a: 1 } }); // a plain key the schema refuses as unknown
  });

  it('an unknown directive or version and a tag yaml cannot resolve are refused, not read as something else', () => {
    expect(problems('%YAML 1.3\n---\na: 1\n')).toEqual([expect.stringMatching(/^line 1: Unsupported YAML version 1\.3 \(column \d+\): refused/)]);
    expect(problems('%FOO bar\n---\na: 1\n')).toEqual([expect.stringMatching(/^line 1: Unknown directive %FOO.*: refused/)]);
    // before: the string "yes" and the string "5", silently
    expect(problems('websocket: !!bool yes\n')).toEqual([expect.stringMatching(/^line 1: Unresolved tag: tag:yaml\.org,2002:bool \(column 12\): refused/)]);
    expect(problems('a: !!float 5\n')).toHaveLength(1);
    expect(problems('a: !!str 5\nb: !!int 7\n')).toEqual([]);
  });
});

describe('config text: JSON', () => {
  /** The same text read by yaml: a trailing comment is no JSON. */
  const viaYaml = (text: string) => parseYamlText(`${text}\n# via yaml`);

  it('any JSON document reads as yaml reads it (data, out-of-range numbers, repeated keys)', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.constantFrom(0, 2), fc.option(fc.tuple(fc.string(), fc.jsonValue(), fc.jsonValue())), (v, indent, dup) => {
      let text = JSON.stringify({ v }, null, indent);
      if (dup !== null) { const [k, a, b] = dup; text = `{${JSON.stringify(k)}: ${JSON.stringify(a)}, "w": ${text}, ${JSON.stringify(k)}: ${JSON.stringify(b)}}`; }
      expect(parseYamlText(text)).toEqual(viaYaml(text));
    }), { numRuns: 300 });
  });

  it('a repeated key, an unsafe integer or an infinite number in JSON: refused as in YAML', () => {
    expect(problems('{"a": 1, "b": {"c": 2}, "a": 3}')).toEqual(['line 1: Map keys must be unique (column 25)']);
    expect(problems('{"upstreams": {"x": {"timeout_ms": 9007199254740993}}, "n": [1e400]}')).toEqual([
      'upstreams.x.timeout_ms: number out of range: integers up to 9007199254740991',
      'n[0]: number out of range (infinite)',
    ]);
    expect(problems('{"a": "x\\"", "b": "\\u00e9:"}')).toEqual([]);
  });
});
