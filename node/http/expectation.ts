// The `Expect` rule every front door applies (RFC 9110 §10.1.1): `100-continue` is the one
// expectation the proxy meets; any other is refused with 417 before routing, nothing forwarded.

/** `100-continue` in any case (tokens are case-insensitive); OWS is already trimmed by every parser. */
const CONTINUE = /^100-continue$/i;

/**
 * True when an `Expect` field value asks for something the proxy cannot meet: anything but one
 * `100-continue` — another token, a list, parameters, an empty value. No allocation.
 */
export function unmetExpectation(value: string): boolean {
  return !CONTINUE.test(value);
}
