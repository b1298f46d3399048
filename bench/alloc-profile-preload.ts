// Preloaded into Portcullis by bench/alloc-profile.ts (NODE_OPTIONS=--import …, only with
// PORTCULLIS_BENCH_ALLOC_PROFILE=FILE): a sampling heap profile of everything the main thread
// allocates between two SIGUSR2s, objects scavenges and full GCs collected included.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { isMainThread } from 'node:worker_threads';

const FILE = process.env.PORTCULLIS_BENCH_ALLOC_PROFILE;
/** Bytes between samples (V8's default 32 KiB would see too few of a request's ~100 objects). */
const INTERVAL = Number(process.env.PORTCULLIS_BENCH_ALLOC_PROFILE_INTERVAL ?? '256');

if (FILE !== undefined && FILE !== '' && isMainThread) {
  const session = new Session();
  session.connect();
  let on = false;
  process.on('SIGUSR2', () => {
    if (!on) {
      on = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as object);
      return;
    }
    on = false;
    session.post('HeapProfiler.stopSampling', (err, r) => { if (err === null) writeFileSync(FILE, JSON.stringify((r as { profile: unknown }).profile)); });
  });
}
