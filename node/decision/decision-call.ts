// The shapes a decision call takes between the listeners (main port, unix socket) and the
// decision endpoints: which endpoint matched, and the call as the listener read it.
import type { DialectSetting } from './original-request.js';

/** One configured decision endpoint (server.decision.endpoints). */
export interface Endpoint {
  readonly path: string;
  readonly dialect: DialectSetting;
}

/** A decision call as the listener read and checked it (limits, header bytes, framing). */
export interface CallParts {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: string[];
  readonly hasBody: boolean;
  readonly head: boolean;
  readonly start: number;
}
