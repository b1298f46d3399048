// Typed messages over a byte transport: encode on the way out, decode and validate on
// the way in (bad messages are dropped and counted by the codec, never delivered).
import type { Incoming, Transport } from '../transport/transport.js';
import { busError } from '../transport/transport.js';
import type { Codec } from './codec.js';
import type { BusMessage } from './messages.js';
import type { Subjects } from './subjects.js';

/** A decoded message and the means to answer it when it was a request. */
export type MessageHandler = (msg: BusMessage, incoming: Incoming) => void;

/** The protocol layer every actor talks to. */
export class MessageBus {
  constructor(readonly transport: Transport, readonly codec: Codec, readonly subjects: Subjects) {}

  /** Encode and publish (fire and forget). */
  publish(subject: string, msg: BusMessage): void {
    this.transport.publish(subject, this.codec.encode(msg));
  }

  /** Subscribe; only valid messages reach `handler`. Returns the unsubscribe function. */
  subscribe(subject: string, handler: MessageHandler): () => void {
    return this.transport.subscribe(subject, (incoming) => {
      const msg = this.codec.decode(incoming.data);
      if (msg !== null) handler(msg, incoming);
    });
  }

  /** Request/reply; rejects with a BusError on timeout, no responders, disconnect or an undecodable answer. */
  async request(subject: string, msg: BusMessage, timeoutMs: number): Promise<BusMessage> {
    const bytes = await this.transport.request(subject, this.codec.encode(msg), timeoutMs);
    const reply = this.codec.decode(bytes);
    if (reply === null) throw busError('BUS_TIMEOUT', `undecodable answer on ${subject}`);
    return reply;
  }

  /** Answer a request received by a handler. */
  respond(incoming: Incoming, msg: BusMessage): void {
    incoming.respond(this.codec.encode(msg));
  }
}
