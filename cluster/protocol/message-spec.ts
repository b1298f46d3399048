// How a message type is described to the codec (type, version, field order, parser)
// and the small field checks every parser uses.

/** One (type, version) pair: its fixed field order (the msgpackr record) and a strict parser. */
export interface MessageSpec<M> {
  readonly type: string;
  readonly v: number;
  /** Field order on the wire; absent optional fields travel as null. */
  readonly fields: readonly string[];
  /** Rebuild a typed message from a decoded object; null when any field is wrong. */
  readonly parse: (o: Record<string, unknown>) => M | null;
}

/** A string of at most `max` UTF-16 units. */
export const isStr = (x: unknown, max = 4096): x is string => typeof x === 'string' && x.length <= max;
/** null, or a string of at most `max` units. */
export const isStrOrNull = (x: unknown, max = 4096): x is string | null => x === null || isStr(x, max);
/** A finite number. */
export const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
/** null, or a finite number. */
export const isNumOrNull = (x: unknown): x is number | null => x === null || isNum(x);
/** A non-negative safe integer. */
export const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
/** A plain JSON-like object (not an array, not null). */
export const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array) && !(x instanceof Date);
