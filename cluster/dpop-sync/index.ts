// Public surface of cluster/dpop-sync: the cluster-wide DPoP proof replay check (one owner per
// proof key, rendezvous over the live members), implementing node/contracts' ReplaySharing.
export { DpopReplaySync, MAX_REPLAY_AHEAD_S, type DpopReplaySyncOptions, type DpopReplaySyncStats } from './dpop-replay-sync.js';
