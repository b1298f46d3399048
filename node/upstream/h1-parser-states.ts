// States of the response parser (h1-parser.ts) and its chunked-framing machine
// (h1-chunk-framing.ts): plain numbers, so the hot loop switches on small integers.

export const P_HEAD = 0;
export const P_BODY_CL = 1;
export const P_BODY_EOF = 2;
export const P_CHUNK_SIZE = 3;
export const P_CHUNK_EXT_NAME_START = 4;
export const P_CHUNK_EXT_NAME = 5;
export const P_CHUNK_EXT_VALUE_START = 6;
export const P_CHUNK_EXT_TOKEN = 7;
export const P_CHUNK_EXT_QUOTED = 8;
export const P_CHUNK_EXT_QUOTED_PAIR = 9;
export const P_CHUNK_EXT_QUOTED_END = 10;
export const P_CHUNK_SIZE_LF = 11;
export const P_CHUNK_DATA = 12;
export const P_CHUNK_DATA_CR = 13;
export const P_CHUNK_DATA_LF = 14;
export const P_TRAILER_START = 15;
export const P_TRAILER_NAME = 16;
export const P_TRAILER_VALUE = 17;
export const P_TRAILER_LF = 18;
export const P_END_LF = 19;
export const P_DONE = 20;
export const P_ERROR = 21;
