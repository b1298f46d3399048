// What a cluster suite runs beside its members: one real nats-server, the demo authorization
// server and the demo echo upstream, started together; stopping them stops the suite's members first.
import { startAuthServer, type AuthServer, type AuthServerOptions } from '../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from './nats.js';
import type { ProxyProcess } from './proxy-process.js';

/** The servers a cluster suite shares, and the members it started on them. */
export interface BusServers {
  readonly nats: NatsServer & { stop(): Promise<void> };
  readonly as: AuthServer;
  readonly echo: EchoUpstream;
  /** The suite's members: push every started proxy here so `stop()` stops it. */
  readonly started: ProxyProcess[];
  /** Stop every member in `started` (SIGTERM), then nats-server, the authorization server and the upstream. */
  stop(): Promise<void>;
}

/** Start nats-server (JetStream, free loopback ports), the demo authorization server (`as` options) and an echo upstream at once. */
export async function startBusServers(as: AuthServerOptions = {}): Promise<BusServers> {
  const [nats, auth, echo] = await Promise.all([startNatsServer(), startAuthServer(as), startEchoUpstream()]);
  const started: ProxyProcess[] = [];
  return {
    nats, as: auth, echo, started,
    async stop() {
      await Promise.all(started.map((p) => p.stop()));
      await Promise.all([nats.stop(), auth.close(), echo.close()]);
    },
  };
}
