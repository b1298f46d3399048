// How a bench run splits the machine's cores between the load generator, the upstream and
// the proxy under test, so Portcullis and HAProxy get exactly the same CPU.

export interface CpuPlan {
  /** The bench process itself (autocannon / paced generator). */
  loader: number[];
  /** The cheap upstream process. */
  upstream: number[];
  /** The proxy under test: Portcullis (workers: 1) or HAProxy (nbthread = proxy.length). */
  proxy: number[];
  /** One line for the results file. */
  note: string;
}

/**
 * The split for `cores` CPUs (ids 0…cores-1).
 *
 * 2 cores (the reference machine): the loader alone on CPU 0; proxy and upstream share CPU 1.
 * A single Node loader is the most expensive party per request (it parses every response
 * and, at a fixed rate, spins to pace sends), so it gets a core to itself and is never the
 * limit; the proxy (Portcullis workers: 1 or HAProxy nbthread 1) then competes only with the
 * same upstream in every case, so portcullis/haproxy compares proxies on equal terms, while
 * absolute rps includes the upstream's share of CPU 1. (Loader + upstream on CPU 0 with the
 * proxy alone on CPU 1 makes loader+upstream the ceiling: both proxies saturate it and the
 * ratio reads ~1.0.) Per-request CPU time of the proxy is recorded too, as it is robust to the split.
 *
 * ≥ 3 cores: loader, upstream and proxy each get their own CPU (0, 1, 2); the proxy stays
 * single-core so numbers compare across machines. 1 core: everything on CPU 0.
 */
export function cpuPlan(cores: number): CpuPlan {
  if (cores >= 3) return { loader: [0], upstream: [1], proxy: [2], note: 'loader CPU 0 · upstream CPU 1 · proxy CPU 2 (workers 1 / nbthread 1)' };
  if (cores === 2) return { loader: [0], upstream: [1], proxy: [1], note: 'loader CPU 0 · upstream + proxy share CPU 1 (workers 1 / nbthread 1)' };
  return { loader: [0], upstream: [0], proxy: [0], note: 'single core: loader, upstream and proxy share CPU 0' };
}

/**
 * The split for scenarios that measure scaling over cores (jwt-cold: verifier pool_size 1 vs N):
 * the proxy may use several CPUs, and `proxy.length` is the thread count to compare against.
 *
 * ≥ 4 cores: loader CPU 0, upstream CPU 1, proxy CPUs 2…cores-1 (alone).
 * 2–3 cores: loader CPU 0, upstream on the last CPU, the proxy may run on every CPU — on the
 * 2-core reference machine its threads share CPU 0 with the loader and CPU 1 with the upstream,
 * so a second verifier thread can only use what those two leave free (the loader is measured to
 * need most of CPU 0 at these rates). 1 core: everything on CPU 0.
 */
export function cpuPlanSpread(cores: number): CpuPlan {
  if (cores >= 4) {
    const proxy = Array.from({ length: cores - 2 }, (_, i) => i + 2);
    return { loader: [0], upstream: [1], proxy, note: `loader CPU 0 · upstream CPU 1 · proxy CPUs ${proxy[0]}–${proxy[proxy.length - 1]} (threads = ${proxy.length})` };
  }
  if (cores >= 2) {
    const all = Array.from({ length: cores }, (_, i) => i);
    return { loader: [0], upstream: [cores - 1], proxy: all, note: `loader CPU 0 · upstream CPU ${cores - 1} · proxy may use CPUs 0–${cores - 1}, shared with both (threads = ${cores})` };
  }
  return { loader: [0], upstream: [0], proxy: [0], note: 'single core: loader, upstream and proxy share CPU 0' };
}
