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
