// The `graphql-ws` npm client (graphql-transport-ws) against leadgraph, as a
// sales rep's screen uses it: subscribe to leadQualified with a SALES token,
// receive, disconnect, resume with the last cursor, then receive live.
//
// Driven by tests/api/subscriptions.rs over stdin/stdout, one JSON object per
// line. Environment: LEADGRAPH_WS_URL, LEADGRAPH_TOKEN, LEADGRAPH_AFTER (the
// cursor to start after). Steps:
//   1. subscribe after LEADGRAPH_AFTER; print {"event": …} for the first event;
//      dispose of the client (disconnect); print {"disconnected": true}
//   2. wait for a line on stdin (the test commits meanwhile)
//   3. subscribe again after the last cursor; print {"event": …} for each of
//      the next two events (the missed one, then a live one once the test saw
//      the first: it prints {"resumed": true} after the first)
//   4. exit 0. Any error: print {"error": …} and exit 1.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import readline from 'node:readline';

const url = process.env.LEADGRAPH_WS_URL;
const token = process.env.LEADGRAPH_TOKEN;
const QUERY = `subscription($after: String) {
  leadQualified(after: $after) { cursor from to actor lead { id email stage } }
}`;

const say = (message) => process.stdout.write(JSON.stringify(message) + '\n');
const fail = (error) => {
  say({ error: String(error?.message ?? JSON.stringify(error)) });
  process.exit(1);
};

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function client() {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    // Only the connection_init payload carries the token (docs/roles.md).
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
}

/// Subscribe after `after` and hand each event to `onEvent` until it returns
/// false; then unsubscribe.
async function receive(c, after, onEvent) {
  const events = c.iterate({ query: QUERY, variables: { after } });
  for await (const result of events) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const event = result.data.leadQualified;
    if (!(await onEvent(event))) break;
  }
}

try {
  let cursor = process.env.LEADGRAPH_AFTER;
  const first = client();
  await receive(first, cursor, async (event) => {
    say({ event });
    cursor = event.cursor;
    return false;
  });
  await first.dispose();
  say({ disconnected: true });

  await lines.next();

  const second = client();
  let seen = 0;
  await receive(second, cursor, async (event) => {
    say({ event });
    cursor = event.cursor;
    seen += 1;
    if (seen === 1) say({ resumed: true });
    return seen < 2;
  });
  await second.dispose();
  process.exit(0);
} catch (error) {
  fail(error);
}
