// The cluster-wide DPoP replay check as node/ sees it: each proof key has one owner that
// checks-and-sets it for everyone (cluster/dpop-sync implements it over the bus).

/** A replay cache's answer for one proof key: first use, seen before, or older than the window. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'too_old';

/** The local replay cache, as the cluster side uses it (node/dpop's ReplayCache). */
export interface ReplayClaims {
  /** Record `key` until `exp` (epoch s) and say whether it was new. */
  claim(key: string, exp: number, nowS: number): ReplayVerdict;
  /**
   * Replay records signed at `signedAtMs` (epoch ms) could not be read here: from now on every key whose
   * proof could be one of them is refused (`too_old`), to peers asking this member as owner too.
   */
  lost?(signedAtMs: number): void;
}

/** The cluster side of the replay check, as this instance sees it. */
export interface ReplayPeers {
  /** This member's id. */
  readonly self: string;
  /** The member owning `key` (rendezvous over the live serving members); `self` when alone. */
  ownerOf(key: string): string;
  /**
   * null when ownerOf() can be trusted; else settles when it can (the bus connected moments ago and the
   * view may not have heard every peer: each member would own every key). One shared wait, not one per proof.
   */
  ownersKnown?(): Promise<void> | null;
  /** Ask `owner` to claim `key`; rejects on a bus failure (timeout, no responder, disconnected). */
  ask(owner: string, key: string, exp: number, timeoutMs: number): Promise<ReplayVerdict>;
  /** Tell every member that `key` was claimed (the owner does it after a fresh claim). */
  announce(key: string, exp: number): void;
  /** Skip `owner` for a while (it did not answer): its keys are judged locally meanwhile. */
  suspect(owner: string): void;
  /** Stop serving claims and announcements. */
  detach(): void;
  /** Counters of the bus side (claims served, announcements…), for metrics. */
  stats?(): Readonly<Record<string, number>>;
  /**
   * When the latest authentic replay record this build could not read (a newer build's) was signed,
   * epoch ms; 0 when none. A proof it recorded is missing here: every proof that could be it is refused.
   */
  unreadableAt?(): number;
}

/** Cluster-wide sharing: serve peers' claims from `cache` and return the link. */
export interface ReplaySharing {
  attach(cache: ReplayClaims): ReplayPeers;
}
