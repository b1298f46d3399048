// Public surface of node/config: the schema, its types and the loader.
export * from './schema.js';
export { backchannelLogoutSchema, eventSourceSchema, streamDelivery, STANDARD_EVENT_TYPES, EVENT_ACTIONS, type EventActionName, type BackchannelLogoutConfig, type EventSourceConfig } from './event-sources-schema.js';
export * from './http2-schema.js';
export { deepFreeze, loadConfigFile, parseConfigText, readConfigText, validateConfig, formatProblems, formatPath, checkPattern, type ConfigProblem, type ConfigResult, type LoadOptions } from './load.js';
export { checkEnvironment, madeAtStartWarnings, type Environment } from './env-check.js';
export { renewableTlsFiles, watchConfig } from './config-watch.js';
export { openWriter, type OpenWriter } from './open-writers.js';
export { RouteParseMemo, validateConfigReusing } from './validate-reusing.js';
export { POLICY_KEYS, CanonicalRouteMemo, canonicalJson, combinePolicy, extractPolicy, foreignPolicyKeys, policyDigest, splitDocument, validateLocal, type PolicyDocument, type PolicyKey } from './policy-split.js';
export { cidrMatcher, parseCidr, type Cidr } from './cidr.js';
export { decisionSchema, type DecisionConfig } from './decision-schema.js';
export { parseYamlText, MAX_YAML_BYTES, MAX_FLOW_DEPTH, MAX_TIMER_MS } from './yaml-text.js';
export { plainHttpCredentials, plainHttpBeyondLoopback, type PlainHttpCredential } from './plain-http-credentials.js';
export { RESTART_ONLY_FIELDS, restartOnlyChanges, withStartFields } from './restart-only.js';
export { routeDeadlineMs } from './route-deadline.js';
export { defaultRouteIssuers, ownIssuerNames, routeIssuers, unscopedRouteIssuers } from './route-issuers.js';
export { quotedName, shownName } from './shown-value.js';
export { shadowedRoutes } from './route-shadow.js';
