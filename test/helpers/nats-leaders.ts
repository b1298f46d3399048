// Which server of a test's NATS cluster leads a JetStream stream, and moving that leader: a test that
// kills or freezes a server chooses the leader it takes down with it instead of meeting JetStream's
// random placement (a run-to-run difference that turned into slow runs and failures under load).
import { connect } from 'nats';
import type { NatsCluster } from './nats.js';
import { waitFor } from './wait.js';

/** The server leading `stream` as a running server's monitoring port reports it ('' while there is none). */
export async function streamLeader(cluster: NatsCluster, stream: string): Promise<string> {
  for (const s of cluster.servers.filter((x) => x.running())) {
    try {
      const r = await fetch(`http://127.0.0.1:${s.monitorPort}/jsz?streams=true`, { signal: AbortSignal.timeout(1_000) });
      const j = await r.json() as { account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }> };
      const leader = j.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === stream)?.cluster?.leader;
      if (leader !== undefined && leader !== '') return leader;
    } catch {
      // a server paused or restarting: ask the next one
    }
  }
  return '';
}

/** The leader as the stream's own STREAM.INFO answer (given by its leader) names it; '' when none answered within 2 s. */
export async function leaderSays(cluster: NatsCluster, stream: string): Promise<string> {
  const at = cluster.servers.find((s) => s.running())!;
  const nc = await connect({ servers: [at.url], timeout: 1_000 });
  try {
    const info = await (await nc.jetstreamManager({ timeout: 2_000, checkAPI: false })).streams.info(stream);
    return info.cluster?.leader ?? '';
  } catch {
    return '';
  } finally {
    await nc.close();
  }
}

/**
 * Ask the stream's leader to step down until one that `wanted` accepts leads it (JetStream picks the
 * next leader at random among the replicas, nats-server 2.9 takes no preference: a few rounds, ~0.5 s
 * each). Resolves with its name;
 * fails after `ms` naming the leader it saw last.
 */
export async function placeStreamLeader(cluster: NatsCluster, stream: string, wanted: (name: string) => boolean, ms = 30_000): Promise<string> {
  let leader = '';
  await waitFor(`the stream ${stream} to be led by the server the test chose`, async () => {
    leader = await streamLeader(cluster, stream);
    // a monitoring port's view may lag a leader change (a starved leader loses its term under load): the
    // stream's own answer must name the same server, else a test freezing it froze a follower
    if (leader !== '' && wanted(leader)) return (await leaderSays(cluster, stream)) === leader;
    if (leader === '') return false;
    const at = cluster.servers.find((s) => s.running())!;
    const nc = await connect({ servers: [at.url], timeout: 1_000 });
    try {
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 2_000 }).catch(() => undefined);
    } finally {
      await nc.close();
    }
    return false;
  }, ms, { everyMs: 250, detail: () => `last leader seen: "${leader}"` });
  return leader;
}
