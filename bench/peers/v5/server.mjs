// PostGraphile 5 for leadgraph's bench: `node server.mjs PORT`.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const port = Number(process.argv[2] || preset.grafserv.port);
const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
await serv.addTo(server);
server.listen(port, "127.0.0.1", () => {
  console.error(`postgraphile 5 (pid ${process.pid}) on http://127.0.0.1:${port}/graphql`);
});
const stop = async () => {
  server.close();
  await pgl.release();
  process.exit();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
