// Inclusive wall time (sampled) of the call-tree nodes whose 'function@dir/file:line' contains each pattern, outermost only:
// node bench/micro/profile-incl.mjs CPU.<pid>.cpuprofile callback@transport/nats-transport applyRemote onApplied open@
// (how the revocation receive path was split in bench/RESULTS.md, 2026-12-04 13:38–14:20)
import { readFileSync } from 'node:fs';
const [,, file, ...pats] = process.argv;
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const incl = (id) => { const n = byId.get(id); let t = self.get(id) ?? 0; for (const c of n.children ?? []) t += incl(c); return t; };
// top-level only (not nested inside another match)
const parent = new Map(); for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const key = (n) => `${n.callFrame.functionName || '(anon)'}@${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
const total = (p.endTime - p.startTime) / 1000;
for (const pat of pats) {
  let t = 0; const seen = new Map();
  for (const n of p.nodes) { if (!key(n).includes(pat)) continue; let a = parent.get(n.id), nested = false; while (a !== undefined) { if (key(byId.get(a)).includes(pat)) { nested = true; break; } a = parent.get(a); } if (nested) continue; const v = incl(n.id); t += v; seen.set(key(n), (seen.get(key(n)) ?? 0) + v); }
  console.log(pat, (t / 1000).toFixed(1), 'ms incl of', total.toFixed(0), 'ms window', [...seen].map(([k, v]) => `${k}=${(v/1000).toFixed(1)}`).join(' '));
}
