// Public surface of node/config: the schema, its types and the loader.
export * from './schema.js';
export { loadConfigFile, parseConfigText, validateConfig, formatProblems, formatPath, checkPattern, type ConfigProblem, type ConfigResult } from './load.js';
