// prom-client's Registry, Counter, Gauge and AggregatorRegistry, required from their own files: the
// package index also loads the push gateway, the default process metrics and, through them,
// @opentelemetry/api (~80 files, ~0.08 s of CPU at every start), none of which Portcullis uses.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry.js') as typeof Prom.Registry;
export const Counter = (require('prom-client/lib/counter.js') as typeof Prom.Counter);
export const Gauge = (require('prom-client/lib/gauge.js') as typeof Prom.Gauge);

/** The cluster side (lib/cluster.js: the worker's metrics listener, aggregation), on first use. */
export function aggregatorRegistry(): typeof Prom.AggregatorRegistry {
  return require('prom-client/lib/cluster.js') as typeof Prom.AggregatorRegistry;
}
