// The transport of a single instance without NATS: messages loop back inside the
// process, so the same actors run unchanged. Always connected.
import { LocalDispatcher } from './local-dispatcher.js';
import { busError, type IncomingHandler, type Transport, type TransportStatus } from './transport.js';

/** In-process transport: publish delivers to this process' own subscribers only. */
export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  private readonly d = new LocalDispatcher();
  private published = 0;
  private closed = false;

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) return;
    this.published++;
    this.d.deliver(subject, data, null);
  }

  subscribe(subject: string, handler: IncomingHandler): () => void {
    return this.d.add(subject, handler);
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(busError('BUS_CLOSED', 'transport closed'));
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => { done = true; reject(busError('BUS_TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`)); }, timeoutMs);
      const n = this.d.deliver(subject, data, (reply) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(reply);
      });
      if (n === 0) { done = true; clearTimeout(timer); reject(busError('BUS_NO_RESPONDERS', `no responders on ${subject}`)); }
    });
  }

  isConnected(): boolean {
    return !this.closed;
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    return this.d.onStatus(listener);
  }

  stats(): Record<string, number> {
    return { bus_published: this.published, bus_delivered: this.d.delivered, bus_handler_errors: this.d.handlerErrors };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.d.clear();
  }
}
