// A leadgraph webhook receiver: node webhook-receiver.mjs (WEBHOOK_SECRET=whsec_…, PORT=9000)
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
const key = Buffer.from(process.env.WEBHOOK_SECRET.replace(/^whsec_/, ''), 'base64');
const seen = new Set(); // at-least-once: drop a webhook-id already handled
createServer((req, res) => {
  const chunks = []; req.on('data', (c) => chunks.push(c)); req.on('end', () => {
    const [id, ts, body] = [req.headers['webhook-id'], req.headers['webhook-timestamp'], Buffer.concat(chunks).toString()];
    const mac = 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    const ok = (req.headers['webhook-signature'] ?? '').split(' ').some((s) => s.length === mac.length && timingSafeEqual(Buffer.from(s), Buffer.from(mac)));
    if (!ok || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return res.writeHead(401).end();
    if (!seen.has(id)) { seen.add(id); console.log(JSON.stringify(JSON.parse(body))); }
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 9000), '127.0.0.1');
