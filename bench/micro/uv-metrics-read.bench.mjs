// What reading libuv's counters costs (performance.nodeTiming.uvMetricsInfo crosses into C++ and
// allocates an object), read as node/upstream/h1-reuse-turn.ts does: twice per reused request.
// Run: node bench/micro/uv-metrics-read.bench.mjs
const N = 2_000_000;
let sink = 0;
for (let r = 0; r < 3; r++) {
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { const m = performance.nodeTiming.uvMetricsInfo; sink += m.loopCount + m.events; }
  const a = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { sink += performance.nodeTiming.uvMetricsInfo.loopCount; }
  const b = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { sink += performance.now(); }
  const c = Number(process.hrtime.bigint() - t) / N;
  console.log(`uvMetricsInfo read once for both fields ${a.toFixed(0)} ns; loopCount alone ${b.toFixed(0)} ns; performance.now() ${c.toFixed(0)} ns`);
}
console.log(sink > 0);
