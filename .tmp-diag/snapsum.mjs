import { readFileSync } from 'node:fs';
const s = JSON.parse(readFileSync('/tmp/cache.heapsnapshot'));
const m = s.snapshot.meta, nf = m.node_fields.length, types = m.node_types[0];
const iType = m.node_fields.indexOf('type'), iName = m.node_fields.indexOf('name'), iSize = m.node_fields.indexOf('self_size');
const agg = new Map();
for (let i = 0; i < s.nodes.length; i += nf) {
  const t = types[s.nodes[i + iType]]; let name = t === 'object' || t === 'closure' ? s.strings[s.nodes[i + iName]] : `(${t})`;
  if (t === 'string' || t === 'concatenated string' || t === 'sliced string') name = '(string)';
  const a = agg.get(name) ?? [0, 0]; a[0]++; a[1] += s.nodes[i + iSize]; agg.set(name, a);
}
for (const [k, [c, b]] of [...agg].sort((x, y) => y[1][1] - x[1][1]).slice(0, 18)) console.log(String(b).padStart(10), String(c).padStart(8), (b / 20000).toFixed(1).padStart(7), k);
