// Metrics of one proxy process: request counters kept on the hot path, component counters
// registered by addSource(), both exposed as Prometheus families (README: Metrics).
export { LATENCY_BUCKETS, RequestMetrics } from './request-metrics.js';
export type { MetricSource } from './component-collector.js';
export { COMPONENT_FAMILIES, mapKey, unmapSample, UNMAPPED_COUNT_FAMILY, UNMAPPED_FAMILY, type FamilySpec, type FamilyType, type KeyMapping } from './component-families.js';
export { parseExposition, sampleValue, sourceValue, sourceValues, type ParsedSample } from './exposition.js';
export { mergeComponentValues } from './merge-values.js';
export { aggregatorRegistry } from './prom-parts.js';
