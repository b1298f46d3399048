// On-CPU accounting from `perf record -e cpu-clock` (software sampling works in this VM, which has
// no hardware counters): a `perf report` text read into samples by what they buy — kernel, crypto,
// the JS runtime (V8, Node's C++, libuv, uWS, libc), our own JavaScript by folder, a native peer's
// own code. V8's --cpu-prof charges the time a thread spends descheduled inside a syscall to the JS
// frame that made it (a sample's timeDelta covers the gap); perf counts only time on a CPU.

/** One `perf report -n --no-children -g none --sort dso,sym --percentage absolute` line; `samples` -1 without -n. */
export interface PerfRow { pct: number; samples: number; dso: string; sym: string }

/** What a sample's CPU time buys. */
export type PerfCategory =
  | 'kernel' | 'crypto (OpenSSL)' | 'V8 runtime + GC' | 'V8 builtins' | 'Node C++' | 'libuv' | 'uWS' | 'libc (malloc, syscall stubs)'
  | 'JS node/jwt' | 'JS node/http' | 'JS node/upstream' | 'JS node/pipeline + auth' | 'JS node (other)' | 'JS cluster' | 'JS Node core' | 'JS other'
  | 'peer binary' | 'unresolved';

/** Pure: the rows of a `perf report --stdio` text (lines "  1.23%  [samples]  dso  [.] symbol"); other lines ignored. */
export function parsePerfReport(text: string): PerfRow[] {
  const rows: PerfRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(?:(\d+)\s+)?(.+?)\s+\[([.k])\]\s+(.*)$/.exec(line); // a dso may hold spaces: [JIT] tid 123
    if (m === null) continue;
    rows.push({ pct: Number(m[1]), samples: m[2] === undefined ? -1 : Number(m[2]), dso: m[3]!, sym: (m[4] === 'k' ? '[k] ' : '') + m[5]!.trim() });
  }
  return rows;
}

// OpenSSL is linked into the node binary: its symbols are told apart by name
const CRYPTO = /(^|_)(bn|BN|sha\d+|SHA\d+|OPENSSL|OSSL|ENGINE|EVP|ossl|RSA|rsa|CRYPTO|ERR|OBJ|evp|x509|X509|ASN1|asn1|ecp|EC|ec_GFp|aes|gcm)_|_cmp_BSEARCH|^(query|obj_name|namenum|ln|sn)_cmp|encode_pkcs1|lookup_translation|legacy_alg|old_md_data|do_sigver|int_ctx_new|do_name|pthread_rwlock/;
const LIBC = /^(operator (new|delete)|std::_Rb|__tls_get_addr|malloc|free|cfree|calloc|realloc|_int_\w+|malloc_consolidate|__memmove\w*|__memcpy\w*|__memset\w*|__strcmp\w*|__strlen\w*|__GI_\w+|__libc_\w+|__send|read|write|epoll_\w+|__lll_\w+|pthread_(mutex|cond)\w*)/;

/**
 * Pure: the category of one sample. `peerDso` names a native peer's own binary (haproxy, nginx):
 * its symbols count as the peer's code; libcrypto's (resolved or not) as crypto.
 */
export function categorize(row: Pick<PerfRow, 'dso' | 'sym'>, peerDso: string | null = null): PerfCategory {
  const { dso, sym } = row;
  if (sym.startsWith('[k] ') || dso === '[kernel.kallsyms]') return 'kernel';
  if (dso.startsWith('libcrypto') || dso.startsWith('libssl') || CRYPTO.test(sym)) return 'crypto (OpenSSL)';
  if (sym.startsWith('JS:')) {
    if (sym.includes('/dist/node/jwt/')) return 'JS node/jwt';
    if (sym.includes('/dist/node/http/')) return 'JS node/http';
    if (sym.includes('/dist/node/upstream/')) return 'JS node/upstream';
    if (sym.includes('/dist/node/pipeline/') || sym.includes('/dist/node/auth/')) return 'JS node/pipeline + auth';
    if (sym.includes('/dist/node/')) return 'JS node (other)';
    if (sym.includes('/dist/cluster/')) return 'JS cluster';
    if (/\bnode:/.test(sym)) return 'JS Node core';
    return 'JS other';
  }
  if (sym.startsWith('RegExp:')) return 'JS other';
  if (peerDso !== null && dso === peerDso) return 'peer binary';
  if (sym.startsWith('Builtins_')) return 'V8 builtins';
  if (/^v8::|Heap|Scaveng|MarkCompact|Sweeper|Isolate::/.test(sym)) return 'V8 runtime + GC';
  if (/^uv_|^uv__/.test(sym)) return 'libuv';
  if (dso.startsWith('uws_') || /uWS::|us_socket|us_loop|HttpResponseWrapper|HttpRequestWrapper/.test(sym)) return 'uWS';
  if (/^node::|^non-virtual thunk to node::|^simdutf::/.test(sym)) return 'Node C++';
  if (LIBC.test(sym) || dso.startsWith('libc') || dso.startsWith('libstdc++') || dso === '[vdso]') return 'libc (malloc, syscall stubs)';
  if (/^0x[0-9a-f]+$/.test(sym)) return 'unresolved';
  return dso === 'node' ? 'V8 runtime + GC' : 'unresolved';
}

/** Pure: µs of CPU per request by category: each sample is 1/`hz` s on one CPU (cpu-clock sampling at -F hz). */
export function categoryMicros(rows: readonly PerfRow[], hz: number, requests: number, peerDso: string | null = null): Map<PerfCategory, number> {
  const out = new Map<PerfCategory, number>();
  if (requests <= 0 || hz <= 0) return out;
  for (const r of rows) {
    if (r.samples < 0) throw new Error('perf report without sample counts: run it with -n');
    const k = categorize(r, peerDso);
    out.set(k, (out.get(k) ?? 0) + (r.samples / hz) * 1e6 / requests);
  }
  return out;
}
