// Shared test helpers for the JWT suites: issuer configs through the real schema
// (real defaults), loggers (silent, or capturing lines to prove tokens never appear).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { issuerSchema, type IssuerConfig } from '../../../node/config/schema.js';
import { FIXTURE_ALGS } from '../../fixtures/keys.js';
import { TEST_AUDIENCE } from '../../fixtures/tokens.js';

export type IssuerInput = Partial<Omit<IssuerConfig, 'jwks'>> & { issuer: string; jwks?: Partial<IssuerConfig['jwks']> };

/** An issuer config parsed by the real schema; every fixture algorithm allowed by default. */
export function issuerConfig(over: IssuerInput): IssuerConfig {
  return issuerSchema.parse({ audiences: [TEST_AUDIENCE], algorithms: [...FIXTURE_ALGS], ...over });
}

export const silentLogger = (): Logger => pino({ level: 'silent' });

/** A trace-level logger whose lines are kept in `lines`. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { logger: pino({ level: 'trace' }, stream), lines };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

