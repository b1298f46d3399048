// The nats package (≈ 65 files with nkeys and tweetnacl), required on first use: an instance whose
// config names no NATS servers (single process, node:cluster IPC) never loads it.
import { createRequire } from 'node:module';
import type * as NatsModule from 'nats';

const require = createRequire(import.meta.url);
let natsModule: typeof NatsModule | undefined;

/** The nats client module, loaded by the first call (connect, a stream's settings, an inbox…). */
export function nats(): typeof NatsModule {
  return natsModule ??= require('nats') as typeof NatsModule;
}
