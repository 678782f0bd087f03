// Runs the graphql-http server audits (GraphQL-over-HTTP spec conformance)
// against a running leadgraph server.
//
//   AUDIT_URL=http://127.0.0.1:18080/graphql AUDIT_TOKEN=<jwt> node .ci/audit/audit.mjs
//
// Every request carries `Authorization: Bearer $AUDIT_TOKEN`: leadgraph answers
// 401 to any GraphQL request without a valid token, by design.
//
// Prints every audit result and exits 1 if any MUST audit failed (or an audit
// could not run at all), 2 on a usage error, 0 otherwise.

import { serverAudits } from 'graphql-http';

const url = process.env.AUDIT_URL;
const token = process.env.AUDIT_TOKEN;
if (!url || !token) {
  console.error('audit.mjs: set AUDIT_URL (e.g. http://127.0.0.1:18080/graphql) and AUDIT_TOKEN (a bearer token)');
  process.exit(2);
}

/** `fetch`, with the bearer token added to every request. */
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

/** A failed audit's response, short enough for a CI log. */
async function describe(response) {
  if (!response) return '';
  let body = '';
  try {
    body = await response.clone().text();
  } catch {
    body = '<body already read>';
  }
  if (body.length > 400) body = `${body.slice(0, 400)}…`;
  const type = response.headers.get('content-type') ?? '-';
  return `HTTP ${response.status}, content-type ${type}, body ${body || '<empty>'}`;
}

const SYMBOL = { ok: 'ok   ', notice: 'NOTE ', warn: 'WARN ', error: 'ERROR' };
const levels = ['MUST', 'SHOULD', 'MAY'];
const counts = Object.fromEntries(levels.map((l) => [l, { ok: 0, notice: 0, warn: 0, error: 0 }]));

let mustFailed = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const level = audit.name.split(' ', 1)[0];
  let result;
  try {
    result = await audit.fn();
  } catch (err) {
    // graphql-http throws only on a fatal problem (e.g. the server is unreachable).
    result = { id: audit.id, name: audit.name, status: 'error', reason: `audit could not run: ${err}${err?.cause ? ` (${err.cause})` : ''}` };
  }
  counts[level][result.status] += 1;
  if (result.status === 'error') mustFailed += 1;
  console.log(`${SYMBOL[result.status]} [${result.id}] ${result.name}`);
  if (result.status !== 'ok') {
    console.log(`        ${result.reason}`);
    const detail = await describe(result.response);
    if (detail) console.log(`        ${detail}`);
  }
}

console.log('');
console.log('summary (ok / notice / warn / error):');
for (const level of levels) {
  const c = counts[level];
  console.log(`  ${level.padEnd(6)} ${c.ok} ok, ${c.notice} notice, ${c.warn} warn, ${c.error} error`);
}
if (mustFailed > 0) {
  console.log(`FAILED: ${mustFailed} MUST audit(s) failed`);
  process.exit(1);
}
console.log('passed: no MUST audit failed');
