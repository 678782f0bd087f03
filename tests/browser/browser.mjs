// A real browser against a real leadgraph: Debian's Chromium, driven headless
// by playwright-core (no browser download), through
//  (a) GraphiQL as leadgraph serves it: every request stays on 127.0.0.1, a
//      pasted token survives a reload (session storage), the sales queue
//      runs and its leads show in the result pane;
//  (b) a page on another origin (a static server on a second loopback port,
//      the CORS origin): it reads the sales queue with fetch and receives,
//      over a graphql-ws subscription, a stage change made meanwhile.
//
//   node tests/browser/browser.mjs [path to leadgraph]   (run.sh does it all)
//
// Exits non-zero with a message on the first failure, or after 120 s.
// BROWSER_TEST_VERBOSE=1 lists every request the browser made.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = path.resolve(process.argv[2] ?? path.join(root, 'target', 'debug', 'leadgraph'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIME_LIMIT_MS = 120_000;
const STEP_TIMEOUT_MS = 20_000;

const SALES_QUEUE = `query SalesQueue {
  leads(first: 20, filter: {stages: [SQL]}, orderBy: {field: SCORE, direction: DESC}) {
    totalCount
    edges { node { id email company stage score owner { name } } }
  }
}`;

const cleanups = [];
let failed = false;

function log(message) {
  console.log(`browser test: ${message}`);
}

function fail(message) {
  throw new Error(message);
}

async function cleanup() {
  while (cleanups.length) {
    const undo = cleanups.pop();
    try {
      await undo();
    } catch (err) {
      console.error(`browser test: cleanup: ${err.message}`);
    }
  }
}

const deadline = setTimeout(async () => {
  console.error(`browser test: FAILED: not done within ${TIME_LIMIT_MS / 1000} s`);
  failed = true;
  await cleanup();
  process.exit(1);
}, TIME_LIMIT_MS);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Poll `check` (async, truthy when done) every 100 ms until `ms` pass.
async function waitFor(what, check, ms = STEP_TIMEOUT_MS) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

// The static server of the other origin: the page, its script, and the
// graphql-ws browser build leadgraph embeds.
function startStaticServer(port) {
  const files = {
    '/': ['text/html; charset=utf-8', path.join(here, 'cross-origin', 'index.html')],
    '/client.js': ['text/javascript; charset=utf-8', path.join(here, 'cross-origin', 'client.js')],
    '/graphql-ws.min.js': [
      'text/javascript; charset=utf-8',
      path.join(root, 'assets', 'graphiql', 'dist', 'graphql-ws.min.js'),
    ],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' });
    res.end(fs.readFileSync(file[1]));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function graphiqlResult(page) {
  return page.evaluate(() => {
    const pane = document.querySelector('.graphiql-response .CodeMirror');
    return pane ? pane.CodeMirror.getValue() : '';
  });
}

// Put `query` into GraphiQL's editor and run it. GraphiQL reads the
// operation name from the editor 100 ms (debounced) after a change; running
// before that sends the previous one's name.
async function runInGraphiql(page, query) {
  await page.evaluate((text) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text);
  }, query);
  await page.waitForTimeout(500);
  await page.click('.graphiql-execute-button');
}

async function main() {
  if (!fs.existsSync(bin)) fail(`${bin} does not exist: build it (cargo build --bin leadgraph)`);
  if (!fs.existsSync(chromiumPath)) {
    fail(`${chromiumPath} does not exist: apt-get install -y --no-install-recommends chromium`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgraph-browser-'));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const [apiPort, pagePort] = [await freePort(), await freePort()];
  const api = `http://127.0.0.1:${apiPort}`;
  const pageOrigin = `http://127.0.0.1:${pagePort}`;
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${tmp}/browser.db?mode=rwc`,
    LEADGRAPH_ADDR: `127.0.0.1:${apiPort}`,
    LEADGRAPH_JWT_SECRET: randomBytes(36).toString('base64'),
    LEADGRAPH_CORS_ORIGINS: pageOrigin,
    LEADGRAPH_RESCORE_INTERVAL: '0',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };

  log('seeding a small data set');
  execFileSync(bin, ['seed', '--leads', '300', '--interactions-per-lead', '3'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const token = (role, sub) =>
    execFileSync(bin, ['token', '--role', role, '--sub', sub, '--ttl', '30m'], { env })
      .toString()
      .trim();
  const sales = token('SALES', 'browser-sales@example.com');
  const admin = token('ADMIN', 'browser-admin@example.com');

  log(`starting leadgraph on ${api}`);
  const serverLog = path.join(tmp, 'server.log');
  const out = fs.openSync(serverLog, 'w');
  const server = spawn(bin, ['serve'], { env, stdio: ['ignore', out, out] });
  let serverExited = null;
  server.on('exit', (code, signal) => (serverExited = code ?? signal));
  cleanups.push(async () => {
    if (serverExited === null) {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    }
    if (failed) {
      console.error('browser test: leadgraph log (tail):');
      console.error(fs.readFileSync(serverLog, 'utf8').split('\n').slice(-40).join('\n'));
    }
  });
  await waitFor('leadgraph to answer /healthz', async () => {
    if (serverExited !== null) fail(`leadgraph exited (${serverExited})`);
    return (await fetch(`${api}/healthz`)).ok;
  });

  const gql = async (bearer, query, variables = {}) => {
    const response = await fetch(`${api}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors) fail(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
  // A subscription without `after` starts "now": until it is in place a
  // change may be missed, so each try makes a new change (a new lead moved
  // to MQL) and `seen(emails made so far)` decides whether one arrived.
  const changeUntil = async (seen, describe = async () => '') => {
    const made = [];
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const email = `browser-${attempt}-${randomBytes(4).toString('hex')}@example.com`;
      const created = await gql(
        admin,
        'mutation($email: String!) { createLead(input: {email: $email}) { id } }',
        { email },
      );
      await gql(admin, 'mutation($id: ID!) { transitionLead(id: $id, to: MQL) { stage } }', {
        id: created.createLead.id,
      });
      made.push(email);
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const found = await seen(made);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    fail(`no stage-change event arrived for ${made.join(', ')}${await describe()}`);
  };
  const queue = (await gql(sales, SALES_QUEUE)).leads.edges.map((e) => e.node);
  if (queue.length === 0) fail('the seeded sales queue is empty');
  log(`the sales queue holds ${queue.length} leads; first ${queue[0].email}`);

  const statics = await startStaticServer(pagePort);
  cleanups.push(() => new Promise((r) => statics.close(r)));

  const profile = path.join(tmp, 'profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  cleanups.push(() => context.close());
  const requests = [];
  const problems = [];
  context.on('request', (request) => requests.push(request.url()));
  const watch = (page, name) => {
    page.on('websocket', (ws) => requests.push(ws.url()));
    page.on('pageerror', (err) => problems.push(`${name}: uncaught ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content.Security.Policy|Refused to/i.test(message.text())) {
        problems.push(`${name}: ${message.text()}`);
      }
    });
  };

  // Nothing left 127.0.0.1, and no CSP violation or uncaught error.
  const assertLocal = () => {
    const outside = requests.filter((url) => {
      const { protocol, hostname } = new URL(url);
      return !(protocol === 'data:' || hostname === '127.0.0.1');
    });
    if (outside.length) fail(`requests left 127.0.0.1: ${outside.join(', ')}`);
    if (problems.length) fail(`the browser reported:\n  ${problems.join('\n  ')}`);
  };

  // (a) GraphiQL.
  const page = await context.newPage();
  watch(page, 'GraphiQL');
  log('(a) opening GraphiQL');
  const response = await page.goto(`${api}/graphql`);
  if (!response || response.status() !== 200) fail(`GET /graphql gave ${response?.status()}`);
  await page.waitForLoadState('load');
  assertLocal();
  await page.waitForSelector('#leadgraph-token', { timeout: STEP_TIMEOUT_MS });
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: STEP_TIMEOUT_MS });
  await page.fill('#leadgraph-token', sales);
  await page.press('#leadgraph-token', 'Enter');
  const stored = await page.evaluate(() => sessionStorage.getItem('leadgraph.token'));
  if (stored !== sales) fail('the token is not in sessionStorage under leadgraph.token');
  await page.reload();
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: STEP_TIMEOUT_MS });
  if ((await page.inputValue('#leadgraph-token')) !== sales) {
    fail('the token box is empty after a reload');
  }
  await runInGraphiql(page, SALES_QUEUE);
  const result = await waitFor('the sales queue in the result pane', () =>
    page.evaluate(() => {
      const pane = document.querySelector('.graphiql-response .CodeMirror');
      const text = pane ? pane.CodeMirror.getValue() : '';
      return text.includes('"edges"') ? text : null;
    }),
  );
  const shown = JSON.parse(result);
  if (shown.errors) fail(`GraphiQL shows errors: ${JSON.stringify(shown.errors)}`);
  const shownEmails = shown.data.leads.edges.map((e) => e.node.email);
  if (shownEmails.length !== queue.length || shownEmails[0] !== queue[0].email) {
    fail(`GraphiQL shows ${shownEmails.length} leads, first ${shownEmails[0]}; expected ${queue[0].email}`);
  }
  if (!(await page.isVisible(`text=${queue[0].email}`))) {
    fail(`${queue[0].email} is not visible in the result pane`);
  }
  log(`(a) GraphiQL shows the sales queue (${shownEmails.length} leads)`);

  // GraphiQL's subscriptions go over /graphql/ws with the token in
  // connection_init (without it the server closes with 4403, no event).
  await runInGraphiql(
    page,
    'subscription StageChanges { leadStageChanged(toStages: [MQL]) { from to lead { email } } }',
  );
  const streamed = await changeUntil((made) =>
    page.evaluate((emails) => {
      const pane = document.querySelector('.graphiql-response .CodeMirror');
      const text = pane ? pane.CodeMirror.getValue() : '';
      return emails.find((email) => text.includes(email)) ?? null;
    }, made),
    async () => `; the result pane shows: ${(await graphiqlResult(page)).slice(0, 600)}`,
  );
  log(`(a) GraphiQL's subscription shows the change of ${streamed}`);

  // (b) A page on another origin.
  const other = await context.newPage();
  watch(other, 'other origin');
  log(`(b) opening ${pageOrigin}`);
  await other.goto(`${pageOrigin}/`);
  await other.waitForFunction(() => window.leadgraphClient !== undefined, null, {
    timeout: STEP_TIMEOUT_MS,
  });
  const read = await other.evaluate(
    ([url, bearer, query]) => window.leadgraphClient.readLeads(url, bearer, query),
    [`${api}/graphql`, sales, SALES_QUEUE],
  );
  if (read.status !== 200) fail(`the cross-origin fetch gave HTTP ${read.status}`);
  if (!read.requestId) fail('x-request-id is not readable across origins (not exposed)');
  if (read.emails.length !== queue.length || read.emails[0] !== queue[0].email) {
    fail(`the cross-origin page read ${read.emails.length} leads, first ${read.emails[0]}`);
  }
  log(`(b) fetch through CORS read ${read.emails.length} leads`);

  await other.evaluate(
    ([url, bearer]) => window.leadgraphClient.subscribe(url, bearer),
    [`ws://127.0.0.1:${apiPort}/graphql/ws`, sales],
  );
  await waitFor('the subscription to be acknowledged', () =>
    other.evaluate(() => window.leadgraphClient.connected),
  );
  const received = await changeUntil(async (made) => {
    const { events, errors } = await other.evaluate(() => ({
      events: window.leadgraphClient.events,
      errors: window.leadgraphClient.errors,
    }));
    if (errors.length) fail(`the subscription failed: ${JSON.stringify(errors)}`);
    return events.find((e) => e.to === 'MQL' && made.includes(e.lead?.email)) ?? null;
  });
  log(`(b) the page received ${received.from} -> ${received.to} of ${received.lead.email}`);

  assertLocal();
  log(`${requests.length} requests, all to 127.0.0.1`);
  if (process.env.BROWSER_TEST_VERBOSE) console.log(requests.join('\n'));
}

try {
  await main();
  log('passed');
} catch (err) {
  failed = true;
  console.error(`browser test: FAILED: ${err.message}`);
} finally {
  clearTimeout(deadline);
  await cleanup();
}
process.exit(failed ? 1 : 0);
