// The one fact about the cluster bus key an instance checks before it starts: its minimum
// length. The config's environment check (node/config) refuses a shorter key and the bus
// (cluster/protocol) never accepts one; both read it here, so node/ needs nothing from cluster/.

/** Smallest accepted bus key (HMAC-SHA-256 secret), bytes. */
export const MIN_KEY_BYTES = 32;
