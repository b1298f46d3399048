#!/usr/bin/env node
// Container HEALTHCHECK: GET a URL (default the admin /healthz on loopback) and exit 0 on
// a 2xx answer within 2 s, 1 otherwise. Node instead of curl: the image has no curl.
//   node healthcheck.mjs [URL]       PORTCULLIS_HEALTHCHECK_URL, when set, wins over URL: the image's
//   HEALTHCHECK names the deploy configs' admin port, and a config with its admin API elsewhere sets the variable
const env = process.env.PORTCULLIS_HEALTHCHECK_URL;
const url = env !== undefined && env !== '' ? env : process.argv[2] ?? 'http://127.0.0.1:9901/healthz';
try {
  const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await r.arrayBuffer();
  process.exit(r.ok ? 0 : 1);
} catch (err) {
  const cause = err?.cause?.code ?? err?.cause?.errors?.[0]?.code ?? err?.cause?.message;
  process.stderr.write(`healthcheck ${url}: ${err?.message ?? err}${cause !== undefined ? ` (${cause})` : ''}\n`);
  process.exit(1);
}
